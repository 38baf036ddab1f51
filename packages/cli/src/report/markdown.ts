import type { MetricsFile } from './metrics.js';

function pct(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : (100 * v).toFixed(1);
}

/** A Markdown table: header row, alignment row, body. */
export function markdownTable(header: string[], rows: string[][]): string {
  const align = header.map((_, i) => (i === 0 ? ':---' : '---:'));
  return [header, align, ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

/**
 * The Markdown summary of an evaluation: AUROC and FPR@95 tables (scores × OOD sets, in %), the
 * mean bits/dim of every set, and the rank correlations when there is a general model.
 */
export function metricsMarkdown(m: MetricsFile): string {
  const ood = m.ood.map((o) => o.name);
  const scoreNames = Object.keys(m.metrics);
  const table = (key: 'auroc' | 'fpr95' | 'aupr_in' | 'aupr_out') =>
    markdownTable(
      ['score', ...ood, 'mean'],
      scoreNames.map((s) => {
        const vals = ood.map((o) => m.metrics[s]?.[o]?.[key]);
        const finite = vals.filter((v): v is number => v !== undefined && Number.isFinite(v));
        const mean = finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : undefined;
        return [`\`${s}\``, ...vals.map(pct), pct(mean)];
      }),
    );
  const sets = [m.inDistribution, ...m.ood];
  const lines = [
    `# Evaluation: ${m.inDistribution.name} (in-distribution) vs ${ood.join(', ')}`,
    '',
    `- model: \`${m.model}\``,
    `- general model: ${m.general ? `\`${m.general}\`` : 'none (no ratio scores)'}`,
    `- inputs: ${m.noise === 'bin-centre' ? 'bin centres x = v/256 − 0.5 + 1/512 (spec 2.1)' : m.noise}`,
    `- convention: ${m.convention}`,
    ...(m.classification
      ? [
          `- test accuracy (class-conditional model, argmax_c log p(x|c)): ${pct(m.classification.accuracy)} % of ${m.classification.count} images`,
        ]
      : []),
    '',
    '## AUROC (%)',
    '',
    table('auroc'),
    '',
    '## AUROC 95 % bootstrap intervals (%)',
    '',
    markdownTable(
      ['score', ...ood],
      scoreNames.map((s) => [
        `\`${s}\``,
        ...ood.map((o) => {
          const ci = m.metrics[s]?.[o]?.auroc_ci95;
          return ci ? `${pct(ci[0])}–${pct(ci[1])}` : '–';
        }),
      ]),
    ),
    '',
    '## FPR at 95 % TPR (%, lower is better)',
    '',
    table('fpr95'),
    '',
    '## AUPR-in / AUPR-out (%)',
    '',
    table('aupr_in'),
    '',
    table('aupr_out'),
    '',
    '## Data',
    '',
    markdownTable(
      [
        'set',
        'source',
        'split',
        'images',
        'bpd',
        'per-scale bits/dim (finest first)',
        ...(m.general ? ['general bpd', 'Spearman ρ'] : []),
      ],
      sets.map((d) => [
        d.name,
        `\`${d.source}\``,
        d.split,
        String(d.count),
        d.meanBpd.toFixed(3),
        d.meanScaleBpd.map((v) => v.toFixed(3)).join(' / '),
        ...(m.general
          ? [d.generalMeanBpd?.toFixed(3) ?? '–', m.rankCorrelation?.[d.name]?.toFixed(3) ?? '–']
          : []),
      ]),
    ),
    '',
    'Scores:',
    '',
    ...Object.entries(m.scores).map(([k, v]) => `- \`${k}\`: ${v}`),
    '',
  ];
  return lines.join('\n');
}
