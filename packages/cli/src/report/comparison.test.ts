import { describe, expect, it } from 'vitest';
import { comparisonTable } from './comparison.js';
import type { DatasetSummary, MetricsFile } from './metrics.js';

function summary(name: string, meanBpd: number): DatasetSummary {
  return { name, source: name, split: 'test', count: 10, meanBpd, meanScaleBpd: [], nonFinite: 0 };
}

function metricsFile(auroc: number, classification?: MetricsFile['classification']): MetricsFile {
  const file: MetricsFile = {
    format: 'hierglow-metrics',
    version: 1,
    hierglow: '0.0.0',
    createdAt: '2026-01-01T00:00:00.000Z',
    model: 'm',
    general: null,
    noise: 'bin-centre',
    convention: 'higher = in',
    inDistribution: summary('fashion', 3),
    ood: [summary('digits', 4)],
    scores: { raw: 'log p' },
    metrics: {
      raw: {
        digits: { auroc, auroc_ci95: [auroc, auroc], aupr_in: 0.5, aupr_out: 0.5, fpr95: 0.5 },
      },
    },
    rankCorrelation: null,
  };
  if (classification) file.classification = classification;
  return file;
}

describe('comparisonTable', () => {
  it('lists the supervised model next to the unsupervised ones and reports its test accuracy', () => {
    const table = comparisonTable([
      { name: 'fashion', metrics: metricsFile(0.3) },
      { name: 'fashion-supervised', metrics: metricsFile(0.9, { accuracy: 0.8765, count: 2000 }) },
    ]);
    expect(table).toMatch(/\| fashion \| raw \| 30\.0 \| 30\.0 \|/);
    expect(table).toMatch(/\| fashion-supervised \| raw \| 90\.0 \| 90\.0 \|/);
    expect(table).toMatch(/## Test accuracy on fashion/);
    expect(table).toMatch(/\| fashion-supervised \| 87\.65 \| 2000 \|/);
    expect(table).not.toMatch(/\| fashion \| \d+\.\d\d \| \d+ \|/);
  });

  it('has no accuracy section without a class-conditional model', () => {
    expect(comparisonTable([{ name: 'fashion', metrics: metricsFile(0.3) }])).not.toMatch(
      /Test accuracy/,
    );
  });
});
