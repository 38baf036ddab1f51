import { rocCurve } from '@hierglow/anomaly-metrics';
import type { HistoryFile } from '../run/history.js';
import type { NamedScore } from '../scoring/anomaly-scores.js';
import { pngDataUri } from './image-grid.js';
import type { MetricsFile } from './metrics.js';
import { escapeXml, groupedBarsSvg, histogramSvg, type LineSeries, lineChartSvg } from './svg.js';

/** What the HTML report shows. */
export interface ReportInput {
  metrics: MetricsFile;
  /** Named scores of every dataset, the in-distribution set first. */
  scores: { dataset: string; scores: NamedScore[] }[];
  /** A PNG grid of example images per dataset, as the model sees them. */
  examples: { dataset: string; png: Uint8Array; width: number }[];
  /** A PNG grid of model samples. */
  samples?: { temperature: number; png: Uint8Array; width: number; model: string };
  /** Training curves of the runs behind the models, when their folders have history.json. */
  histories: { name: string; history: HistoryFile }[];
}

const STYLE = `
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
td.best{font-weight:bold;background:#e6f2e6}
.grid{display:flex;flex-wrap:wrap;gap:8px}
.grid figure{margin:0}
figcaption{font-size:12px;text-align:center}
img.px{image-rendering:pixelated}
.note{color:#555;font-size:13px}
code{background:#f5f5f5;padding:0 3px}
`;

function pct(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : (100 * v).toFixed(1);
}

/** A table of one metric (scores × OOD sets), best value per column in bold. */
function metricTable(m: MetricsFile, key: 'auroc' | 'fpr95' | 'aupr_in' | 'aupr_out'): string {
  const ood = m.ood.map((o) => o.name);
  const names = Object.keys(m.metrics);
  const lowerIsBetter = key === 'fpr95';
  const best = ood.map((o) => {
    const vals = names
      .map((s) => m.metrics[s]?.[o]?.[key])
      .filter((v): v is number => v !== undefined && Number.isFinite(v));
    return vals.length ? (lowerIsBetter ? Math.min(...vals) : Math.max(...vals)) : Number.NaN;
  });
  const rows = names.map((s) => {
    const cells = ood.map((o, j) => {
      const v = m.metrics[s]?.[o]?.[key];
      const ci = key === 'auroc' ? m.metrics[s]?.[o]?.auroc_ci95 : undefined;
      const interval = ci ? ` <small>${pct(ci[0])}–${pct(ci[1])}</small>` : '';
      return `<td${v === best[j] ? ' class="best"' : ''}>${pct(v)}${interval}</td>`;
    });
    return `<tr><td title="${escapeXml(m.scores[s] ?? '')}"><code>${escapeXml(s)}</code></td>${cells.join('')}</tr>`;
  });
  return `<table><tr><th>score</th>${ood.map((o) => `<th>${escapeXml(o)}</th>`).join('')}</tr>${rows.join('')}</table>`;
}

function figure(svgOrImg: string, caption = ''): string {
  return `<figure>${svgOrImg}${caption ? `<figcaption>${escapeXml(caption)}</figcaption>` : ''}</figure>`;
}

/** Moving average over `window` points (training losses are noisy). */
function smooth(values: number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  const q: number[] = [];
  for (const v of values) {
    if (!Number.isFinite(v)) {
      out.push(Number.NaN);
      continue;
    }
    q.push(v);
    sum += v;
    if (q.length > window) sum -= q.shift()!;
    out.push(sum / q.length);
  }
  return out;
}

function trainingCurves(histories: ReportInput['histories']): string {
  return histories
    .map(({ name, history }) => {
      const s = history.steps;
      const window = Math.max(1, Math.round(s.step.length / 100));
      const series: LineSeries[] = [
        { name: `train bpd (avg of ${window})`, xs: s.step, ys: smooth(s.bpd, window) },
      ];
      const evals = history.evaluations.filter((e) => e.metrics.evalBpd !== undefined);
      if (evals.length) {
        series.push({
          name: 'held-out bpd',
          xs: evals.map((e) => e.step),
          ys: evals.map((e) => e.metrics.evalBpd!),
          markers: true,
        });
      }
      const parts = [
        figure(
          lineChartSvg(series, { title: `${name}: bits/dim`, xLabel: 'step', yLabel: 'bits/dim' }),
        ),
      ];
      const accuracies = history.evaluations.filter((e) => e.metrics.evalAccuracy !== undefined);
      if (accuracies.length) {
        parts.push(
          figure(
            lineChartSvg(
              [
                {
                  name: 'held-out accuracy',
                  xs: accuracies.map((e) => e.step),
                  ys: accuracies.map((e) => 100 * e.metrics.evalAccuracy!),
                  markers: true,
                },
              ],
              { title: `${name}: held-out accuracy`, xLabel: 'step', yLabel: '%' },
            ),
          ),
        );
      }
      for (const [extra, values] of Object.entries(s.extra)) {
        parts.push(
          figure(
            lineChartSvg([{ name: extra, xs: s.step, ys: smooth(values, window) }], {
              title: `${name}: ${extra} loss`,
              xLabel: 'step',
              yLabel: 'nats',
            }),
          ),
        );
      }
      return parts.join('');
    })
    .join('');
}

/**
 * The self-contained HTML report of an evaluation: tables, inline SVG charts (score histograms,
 * ROC curves, per-scale contributions, training curves) and PNG grids as data URIs. No scripts,
 * no external files.
 */
export function reportHtml(r: ReportInput): string {
  const m = r.metrics;
  const [inSet, ...oodSets] = r.scores;
  const scoreNames = inSet!.scores.map((s) => s.name);
  const histograms = scoreNames.map((name) =>
    figure(
      histogramSvg(
        r.scores.map((d) => ({
          name: d.dataset,
          values: d.scores.find((s) => s.name === name)!.values,
        })),
        name,
        'score (higher = more in-distribution)',
      ),
    ),
  );
  const rocs = scoreNames.map((name) => {
    const inValues = inSet!.scores.find((s) => s.name === name)!.values;
    const series: LineSeries[] = oodSets.map((d) => {
      const c = rocCurve(inValues, d.scores.find((s) => s.name === name)!.values);
      return {
        name: `${d.dataset} (${pct(m.metrics[name]?.[d.dataset]?.auroc)})`,
        xs: c.fpr,
        ys: c.tpr,
      };
    });
    return figure(
      lineChartSvg(series, {
        title: `ROC: ${name}`,
        xLabel: 'false-positive rate (OOD kept)',
        yLabel: 'true-positive rate (in kept)',
        xRange: [0, 1],
        yRange: [0, 1],
        diagonal: true,
        legend: 'bottom-right',
        firstColour: 1, // the in-distribution set has colour 0 in the histograms
      }),
    );
  });
  const sets = [m.inDistribution, ...m.ood];
  const scales = m.inDistribution.meanScaleBpd.length;
  const perScale = groupedBarsSvg(
    sets.map((d) => d.name),
    Array.from({ length: scales }, (_, k) => ({
      name: `scale ${k}${k === scales - 1 ? ' (final)' : ''}`,
      values: sets.map((d) => d.meanScaleBpd[k]!),
    })),
    { title: 'Per-scale contribution to −log p', yLabel: 'bits per image dim' },
  );
  const dataRows = sets
    .map(
      (d) =>
        `<tr><td>${escapeXml(d.name)}</td><td><code>${escapeXml(d.source)}</code></td><td>${escapeXml(d.split)}</td><td>${d.count}</td><td>${d.meanBpd.toFixed(3)}</td>${
          m.general
            ? `<td>${d.generalMeanBpd?.toFixed(3) ?? '–'}</td><td>${m.rankCorrelation?.[d.name]?.toFixed(3) ?? '–'}</td>`
            : ''
        }</tr>`,
    )
    .join('');
  const examples = r.examples
    .map((e) =>
      figure(
        `<img class="px" src="${pngDataUri(e.png)}" width="${2 * e.width}" alt="${escapeXml(e.dataset)}"/>`,
        e.dataset,
      ),
    )
    .join('');
  const samples = r.samples
    ? figure(
        `<img class="px" src="${pngDataUri(r.samples.png)}" width="${2 * r.samples.width}" alt="samples"/>`,
        `samples of ${r.samples.model} at temperature ${r.samples.temperature}`,
      )
    : '<p class="note">No samples (disabled with --samples 0).</p>';
  const curves = r.histories.length
    ? `<div class="grid">${trainingCurves(r.histories)}</div>`
    : '<p class="note">The model folders have no history.json (training curves are written by <code>hierglow train</code>/<code>finetune</code>).</p>';
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>hierglow evaluation: ${escapeXml(m.inDistribution.name)}</title><style>${STYLE}</style></head>
<body>
<h1>hierglow evaluation: ${escapeXml(m.inDistribution.name)} vs ${escapeXml(m.ood.map((o) => o.name).join(', '))}</h1>
<p class="note">model <code>${escapeXml(m.model)}</code>${m.general ? `, general model <code>${escapeXml(m.general)}</code>` : ''}; inputs: ${escapeXml(m.noise === 'bin-centre' ? 'bin centres x = v/256 − 0.5 + 1/512 (spec 2.1)' : m.noise)}; ${escapeXml(m.createdAt)}, hierglow ${escapeXml(m.hierglow)}.<br>${escapeXml(m.convention)}.</p>
<h2>AUROC (%)</h2>${metricTable(m, 'auroc')}
<h2>FPR at 95 % TPR (%, lower is better)</h2>${metricTable(m, 'fpr95')}
<details><summary>AUPR-in and AUPR-out (%)</summary>${metricTable(m, 'aupr_in')}${metricTable(m, 'aupr_out')}</details>
<h2>Data</h2>
<table><tr><th>set</th><th>source</th><th>split</th><th>images</th><th>bpd</th>${m.general ? '<th>general bpd</th><th>Spearman ρ (log p, log p_gen)</th>' : ''}</tr>${dataRows}</table>
<h2>Score histograms</h2><div class="grid">${histograms.join('')}</div>
<h2>ROC curves</h2><p class="note">AUROC (%) in the legend.</p><div class="grid">${rocs.join('')}</div>
<h2>Per-scale contributions</h2><p class="note">Mean −lp<sub>k</sub>/(D ln 2) per set; the bars of a set add up to its bpd − 8.</p><div class="grid">${figure(perScale)}</div>
<h2>Samples</h2><div class="grid">${samples}</div>
<h2>Data examples (as the model sees them)</h2><div class="grid">${examples}</div>
<h2>Training curves</h2>${curves}
<h2>Scores</h2><ul>${Object.entries(m.scores)
    .map(([k, v]) => `<li><code>${escapeXml(k)}</code>: ${escapeXml(v)}</li>`)
    .join('')}</ul>
</body></html>
`;
}
