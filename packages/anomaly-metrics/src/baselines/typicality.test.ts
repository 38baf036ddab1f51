import { describe, expect, it } from 'vitest';
import {
  EmptyInputError,
  InvalidOptionError,
  LengthMismatchError,
  NonFiniteScoreError,
} from '../errors.js';
import { seededRng } from '../internal/random.js';
import { auroc } from '../metrics/auroc.js';
import {
  fitTypicalityTest,
  isAtypicalBatch,
  typicalityBatchScores,
  typicalityStatistic,
} from './typicality.js';

function normals(n: number, mean: number, sd: number, seed: number): Float64Array {
  const r = seededRng(seed);
  return Float64Array.from({ length: n }, () => {
    const u = 1 - r.uniform();
    return mean + sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.uniform());
  });
}

describe('typicality test (Nalisnick et al. 2019)', () => {
  it('statistic is |mean NLL - H-hat|', () => {
    expect(typicalityStatistic([4, 4], { entropyEstimate: 2 })).toBe(2);
    const test = fitTypicalityTest([1, 2, 3], [1, 2, 3], { batchSize: 2 });
    expect(test.entropyEstimate).toBe(2);
    expect(typicalityStatistic([1, 2], test)).toBe(0.5);
  });

  it('calibrates epsilon to the quantile of |N(0, sd^2 / M)|', () => {
    // Bits/dim-like NLLs: mean 3.4, sd 0.3; batches of M = 16.
    const train = normals(20000, 3.4, 0.3, 1);
    const validation = normals(5000, 3.4, 0.3, 2);
    const test = fitTypicalityTest(train, validation, {
      batchSize: 16,
      resamples: 4000,
      level: 0.99,
      seed: 3,
    });
    const expected = (2.5758 * 0.3) / Math.sqrt(16); // two-sided 0.99 quantile of a normal
    expect(test.threshold / expected).toBeGreaterThan(0.9);
    expect(test.threshold / expected).toBeLessThan(1.1);
    expect(test).toMatchObject({ batchSize: 16, level: 0.99, resamples: 4000 });
  });

  it('flags ~1% of in-distribution batches and catches too-likely and too-unlikely ones', () => {
    const test = fitTypicalityTest(normals(20000, 3.4, 0.3, 1), normals(5000, 3.4, 0.3, 2), {
      batchSize: 16,
      resamples: 2000,
      seed: 4,
    });
    const inTest = normals(16 * 1000, 3.4, 0.3, 5);
    let flagged = 0;
    for (let b = 0; b < 1000; b++)
      if (isAtypicalBatch(inTest.subarray(b * 16, (b + 1) * 16), test)) flagged++;
    expect(flagged / 1000).toBeLessThan(0.03);
    expect(flagged).toBeGreaterThan(0);
    // OOD with *higher* likelihood (lower NLL), the case raw likelihood gets backwards.
    const simpler = normals(16 * 200, 3.0, 0.3, 6);
    const harder = normals(16 * 200, 3.8, 0.3, 7);
    let caughtSimpler = 0;
    let caughtHarder = 0;
    for (let b = 0; b < 200; b++) {
      if (isAtypicalBatch(simpler.subarray(b * 16, (b + 1) * 16), test)) caughtSimpler++;
      if (isAtypicalBatch(harder.subarray(b * 16, (b + 1) * 16), test)) caughtHarder++;
    }
    // A shift of 0.4 is 5.3 standard errors of a batch mean: power ~0.998 at level 0.99.
    expect(caughtSimpler / 200).toBeGreaterThan(0.97);
    expect(caughtHarder / 200).toBeGreaterThan(0.97);
  });

  it('batch scores feed AUROC with higher = more typical', () => {
    const test = fitTypicalityTest(normals(5000, 0, 1, 8), normals(2000, 0, 1, 9), {
      batchSize: 8,
      seed: 1,
    });
    const inScores = typicalityBatchScores(normals(8 * 100 + 5, 0, 1, 10), test);
    expect(inScores.length).toBe(100); // the incomplete batch is dropped
    const outScores = typicalityBatchScores(normals(8 * 100, -1.5, 1, 11), test);
    expect(auroc(inScores, outScores)).toBeGreaterThan(0.95);
    expect(Math.max(...inScores)).toBeLessThanOrEqual(0);
  });

  it('is reproducible for a seed', () => {
    const a = normals(100, 0, 1, 1);
    const opts = { batchSize: 4, resamples: 30, seed: 9 };
    expect(fitTypicalityTest(a, a, opts)).toEqual(fitTypicalityTest(a, a, opts));
    expect(fitTypicalityTest(a, a, { ...opts, seed: 10 }).threshold).not.toBe(
      fitTypicalityTest(a, a, opts).threshold,
    );
  });

  it('handles bad input with named errors', () => {
    const test = fitTypicalityTest([1, 2, 3], [1, 2, 3], { batchSize: 2 });
    expect(() => isAtypicalBatch([1, 2, 3], test)).toThrow(LengthMismatchError);
    expect(isAtypicalBatch([1, Number.POSITIVE_INFINITY], test)).toBe(true);
    expect(() => typicalityStatistic([1, Number.NaN], test)).toThrow(NonFiniteScoreError);
    expect(() => fitTypicalityTest([1, Number.NaN], [1], { batchSize: 1 })).toThrow(
      NonFiniteScoreError,
    );
    expect(() => fitTypicalityTest([1], [], { batchSize: 1 })).toThrow(EmptyInputError);
    expect(() => fitTypicalityTest([1], [1], { batchSize: 0 })).toThrow(InvalidOptionError);
    expect(() => fitTypicalityTest([1], [1], { batchSize: 1, level: 1 })).toThrow(
      InvalidOptionError,
    );
    expect(() => typicalityBatchScores([1], test)).toThrow(/fewer than one batch/);
  });
});
