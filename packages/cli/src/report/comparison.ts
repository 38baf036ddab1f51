import { markdownTable } from './markdown.js';
import type { MetricsFile } from './metrics.js';

/** The scores the paper's claims are about, in the order of its argument. */
export const HEADLINE_SCORES = [
  'raw',
  'final-scale',
  'ratio',
  'background-ratio',
  'complexity',
  's-score',
] as const;

/**
 * A Markdown comparison of several evaluations of the same sets: AUROC (%) of the headline
 * scores per model and OOD set, then the rank correlations of each model with the general one.
 */
export function comparisonTable(results: { name: string; metrics: MetricsFile }[]): string {
  const first = results[0]?.metrics;
  if (!first) return '';
  const ood = first.ood.map((o) => o.name);
  const rows: string[][] = [];
  const intervals: string[][] = [];
  for (const { name, metrics } of results) {
    for (const score of HEADLINE_SCORES) {
      const per = metrics.metrics[score];
      if (!per) continue;
      const vals = ood.map((o) => per[o]?.auroc ?? Number.NaN);
      const mean = vals.reduce((a, b) => a + b, 0) / vals.length;
      rows.push([name, score, ...vals.map((x) => (100 * x).toFixed(1)), (100 * mean).toFixed(1)]);
      intervals.push([
        name,
        score,
        ...ood.map((o) => {
          const ci = per[o]?.auroc_ci95;
          return ci ? `${(100 * ci[0]).toFixed(1)}–${(100 * ci[1]).toFixed(1)}` : '–';
        }),
      ]);
    }
  }
  const lines = [
    `# AUROC (%): ${first.inDistribution.name} test vs OOD sets`,
    '',
    markdownTable(['model', 'score', ...ood, 'mean'], rows),
    '',
    '## AUROC 95 % bootstrap intervals (%)',
    '',
    markdownTable(['model', 'score', ...ood], intervals),
    '',
  ];
  const withGeneral = results.filter((r) => r.metrics.rankCorrelation);
  if (withGeneral.length > 0) {
    const sets = [first.inDistribution.name, ...ood];
    lines.push(
      '## Spearman ρ of per-image log p: fine-tuned vs general model',
      '',
      markdownTable(
        ['model', ...sets],
        withGeneral.map((r) => [
          r.name,
          ...sets.map((s) => r.metrics.rankCorrelation?.[s]?.toFixed(3) ?? '–'),
        ]),
      ),
      '',
    );
  }
  const classifiers = results.filter((r) => r.metrics.classification);
  if (classifiers.length > 0) {
    lines.push(
      `## Test accuracy on ${first.inDistribution.name} (class-conditional models, argmax_c log p(x|c))`,
      '',
      markdownTable(
        ['model', 'accuracy %', 'images'],
        classifiers.map((r) => [
          r.name,
          (100 * r.metrics.classification!.accuracy).toFixed(2),
          String(r.metrics.classification!.count),
        ]),
      ),
      '',
    );
  }
  lines.push(
    '## Mean bits/dim',
    '',
    markdownTable(
      ['model', first.inDistribution.name, ...ood, `general model on ${first.inDistribution.name}`],
      results.map((r) => [
        r.name,
        r.metrics.inDistribution.meanBpd.toFixed(3),
        ...r.metrics.ood.map((o) => o.meanBpd.toFixed(3)),
        r.metrics.inDistribution.generalMeanBpd?.toFixed(3) ?? '–',
      ]),
    ),
    '',
  );
  return lines.join('\n');
}
