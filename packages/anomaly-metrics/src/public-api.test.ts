import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as api from './index.js';
import * as metricsOnly from './metrics.js';

describe('public API', () => {
  it('exports exactly the deliberate list', () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        'AnomalyMetricsError',
        'DegenerateInputError',
        'EmptyInputError',
        'InvalidImageError',
        'InvalidOptionError',
        'LengthMismatchError',
        'NonFiniteScoreError',
        'REFERENCE_NON_FINITE_LOG_P',
        'ShapeError',
        'auroc',
        'aurocBootstrapCI',
        'averagePrecision',
        'detectionError',
        'encodePng',
        'finalScaleScore',
        'fitTypicalityTest',
        'fprAtTpr',
        'inputComplexityScore',
        'isAtypicalBatch',
        'likelihoodRatioScore',
        'logLikelihoodScore',
        'marginLoss',
        'negativeBitsPerDimScore',
        'outlierLoss',
        'perScaleLikelihoodRatioScores',
        'perScaleScores',
        'pngComplexityBitsPerDim',
        'prCurve',
        'readLikelihoodOutput',
        'rocCurve',
        'serraScore',
        'spearman',
        'thresholdAtTpr',
        'typicalityBatchScores',
        'typicalityStatistic',
        'wrongClassLoss',
      ].sort(),
    );
  });

  it('the metrics entry re-exports the same functions', () => {
    const root: Record<string, unknown> = { ...api };
    for (const [name, value] of Object.entries(metricsOnly)) {
      expect(root[name], name).toBe(value);
    }
  });

  it('the metrics entry never imports tfjs, directly or transitively', () => {
    const seen = new Set<string>();
    const visit = (url: URL) => {
      if (seen.has(url.href)) return;
      seen.add(url.href);
      const source = readFileSync(url, 'utf8');
      expect(source, url.pathname).not.toMatch(/@tensorflow/);
      for (const m of source.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g))
        visit(new URL(`${m[1]}.ts`, url));
    };
    visit(new URL('./metrics.ts', import.meta.url));
    expect(seen.size).toBeGreaterThan(5);
  });

  it('error tags survive a second copy of the package (isInstance, not instanceof)', () => {
    const foreign = Object.assign(new Error('from another copy'), { _tag: 'NonFiniteScoreError' });
    expect(api.NonFiniteScoreError.isInstance(foreign)).toBe(true);
    expect(api.AnomalyMetricsError.isInstance(foreign)).toBe(true);
    expect(api.EmptyInputError.isInstance(foreign)).toBe(false);
  });
});
