import { describe, expect, it } from 'vitest';
import { pixelsFromInputs } from '../scoring/score-dataset.js';
import { detectionMetrics } from './metrics.js';
import { histogramSvg, niceTicks } from './svg.js';

describe('report pieces', () => {
  it('orients every metric with in-distribution = higher score', () => {
    const m = detectionMetrics(Float64Array.from([5, 6, 7, 8]), Float64Array.from([1, 2, 3, 6.5]));
    expect(m.auroc).toBeCloseTo(14 / 16);
    expect(m.fpr95).toBe(0.25); // all 4 in kept at threshold 5: 1 of 4 out (6.5) above it
    expect(m.aupr_in).toBeGreaterThan(0.8);
    expect(m.aupr_out).toBeGreaterThan(0.8);
  });

  it('recovers 8-bit values from bin-centre, noisy and plain inputs', () => {
    const v = [0, 1, 127, 255];
    const centre = Float32Array.from(v, (p) => p / 256 - 0.5 + 1 / 512);
    const noisy = Float32Array.from(v, (p) => p / 256 - 0.5 + 0.999 / 256);
    const plain = Float32Array.from(v, (p) => p / 256 - 0.5);
    expect(Array.from(pixelsFromInputs(centre, 'bin-centre'))).toEqual(v);
    expect(Array.from(pixelsFromInputs(noisy, 'uniform'))).toEqual(v);
    expect(Array.from(pixelsFromInputs(plain, 'none'))).toEqual(v);
  });

  it('draws round ticks and histograms that survive infinities', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(-2.3e4, -1.1e4, 4)).toEqual([-20000, -15000]);
    const svg = histogramSvg(
      [
        { name: 'in', values: [1, 2, 3, Number.NEGATIVE_INFINITY] },
        { name: 'out', values: [2, 3, 4] },
      ],
      'raw',
      'score',
    );
    expect(svg).toMatch(/^<svg/);
    expect(svg).toMatch(/1 outside the x range/);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });
});
