import { describe, expect, it } from 'vitest';
import {
  DegenerateInputError,
  EmptyInputError,
  InvalidOptionError,
  LengthMismatchError,
  NonFiniteScoreError,
  ShapeError,
} from '../errors.js';
import { seededRng } from '../internal/random.js';
import { auroc, aurocOfSorted } from './auroc.js';
import { aurocBootstrapCI, drawMultiplicities } from './auroc-bootstrap.js';
import { detectionError, fprAtTpr, thresholdAtTpr } from './operating-point.js';
import { averagePrecision, prCurve } from './precision-recall.js';
import { rocCurve } from './roc-curve.js';
import { averageRanks, spearman } from './spearman.js';

/** Brute-force AUROC over all pairs: the definition, O(n^2). */
function pairwiseAuroc(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < b.length; j++) {
      const x = a[i] as number;
      const y = b[j] as number;
      s += x > y ? 1 : x === y ? 0.5 : 0;
    }
  }
  return s / (a.length * b.length);
}

function normals(n: number, mean: number, seed: number): Float64Array {
  const r = seededRng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = 1 - r.uniform();
    out[i] = mean + Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.uniform());
  }
  return out;
}

/** Standard normal CDF via the Abramowitz-Stegun erf approximation (error < 1.5e-7). */
function phi(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const erf =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
}

describe('documented examples', () => {
  it('auroc', () => expect(auroc([0.9, 0.8, 0.4], [0.1, 0.4])).toBeCloseTo(5.5 / 6, 15));
  it('rocCurve', () => {
    const r = rocCurve([0.9, 0.4], [0.1, 0.4]);
    expect([...r.fpr]).toEqual([0, 0, 0.5, 1]);
    expect([...r.tpr]).toEqual([0, 0.5, 1, 1]);
    expect([...r.thresholds]).toEqual([Number.POSITIVE_INFINITY, 0.9, 0.4, 0.1]);
  });
  it('averagePrecision and prCurve', () => {
    expect(averagePrecision([0.9, 0.6], [0.7, 0.1])).toBeCloseTo((1 + 2 / 3) / 2, 15);
    expect(averagePrecision([0.9, 0.6], [0.7, 0.1], { positive: 'out' })).toBeCloseTo(
      (1 + 2 / 3) / 2,
      15,
    );
    const pr = prCurve([0.9, 0.6], [0.7, 0.1]);
    expect([...pr.thresholds]).toEqual([0.1, 0.6, 0.7, 0.9]);
    expect([...pr.recall]).toEqual([1, 1, 0.5, 0.5, 0]);
    expect([...pr.precision]).toEqual([0.5, 2 / 3, 0.5, 1, 1]);
  });
  it('thresholdAtTpr, fprAtTpr, detectionError', () => {
    const ten = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(thresholdAtTpr(ten, 0.95)).toBe(1);
    expect(thresholdAtTpr(ten, 0.9)).toBe(2);
    expect(fprAtTpr([0.9, 0.8, 0.7, 0.6], [0.65, 0.1], 0.95)).toBe(0.5);
    expect(detectionError([0.9, 0.8], [0.1, 0.85])).toBe(0.25);
  });
  it('spearman', () => {
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBe(1);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBe(-1);
  });
});

describe('auroc', () => {
  it('equals the pairwise definition on random tied data', () => {
    const r = seededRng(3);
    for (let trial = 0; trial < 20; trial++) {
      const a = Array.from({ length: 1 + r.int(40) }, () => r.int(7) - 3);
      const b = Array.from({ length: 1 + r.int(40) }, () => r.int(7) - 3);
      expect(auroc(a, b)).toBeCloseTo(pairwiseAuroc(a, b), 14);
    }
  });
  it('is 1 - auroc with the sets swapped, and invariant to monotone transforms', () => {
    const a = normals(300, 0.5, 1);
    const b = normals(200, 0, 2);
    expect(auroc(a, b) + auroc(b, a)).toBeCloseTo(1, 14);
    expect(auroc(a.map(Math.exp), b.map(Math.exp))).toBe(auroc(a, b));
  });
  it('treats infinities as extreme ranks (the most-anomalous convention)', () => {
    expect(auroc([1, 2], [Number.NEGATIVE_INFINITY, 1.5])).toBe(0.75);
    expect(auroc([Number.NEGATIVE_INFINITY], [Number.NEGATIVE_INFINITY])).toBe(0.5);
    expect(auroc([Number.POSITIVE_INFINITY], [1e308])).toBe(1);
  });
});

describe('bad input', () => {
  const metrics: Array<[string, (a: ArrayLike<number>, b: ArrayLike<number>) => unknown]> = [
    ['auroc', auroc],
    ['averagePrecision', averagePrecision],
    ['averagePrecision out', (a, b) => averagePrecision(a, b, { positive: 'out' })],
    ['rocCurve', rocCurve],
    ['prCurve', prCurve],
    ['fprAtTpr', fprAtTpr],
    ['detectionError', detectionError],
    ['aurocBootstrapCI', (a, b) => aurocBootstrapCI(a, b, { resamples: 10 })],
  ];
  for (const [name, f] of metrics) {
    it(`${name}: empty sets raise EmptyInputError naming the set`, () => {
      expect(() => f([], [1])).toThrow(EmptyInputError);
      expect(() => f([], [1])).toThrow(/inScores is empty/);
      expect(() => f([1], [])).toThrow(/outScores is empty/);
    });
    it(`${name}: NaN raises NonFiniteScoreError with its index`, () => {
      expect(() => f([1, Number.NaN], [0])).toThrow(NonFiniteScoreError);
      expect(() => f([1], [0, 2, Number.NaN])).toThrow(/outScores\[2\] is NaN/);
    });
  }
  it('rejects tensors with a hint to read them first', () => {
    const fakeTensor = { shape: [3], dataSync: () => new Float32Array(3) };
    expect(() => auroc(fakeTensor as unknown as number[], [1])).toThrow(ShapeError);
    expect(() => auroc(fakeTensor as unknown as number[], [1])).toThrow(/await t\.data\(\)/);
  });
  it('rejects out-of-range options', () => {
    expect(() => fprAtTpr([1], [0], 0)).toThrow(InvalidOptionError);
    expect(() => fprAtTpr([1], [0], 1.5)).toThrow(InvalidOptionError);
    expect(() => thresholdAtTpr([1], Number.NaN)).toThrow(InvalidOptionError);
    expect(() => averagePrecision([1], [0], { positive: 'both' as 'in' })).toThrow(
      InvalidOptionError,
    );
    expect(() => aurocBootstrapCI([1], [0], { resamples: 1 })).toThrow(InvalidOptionError);
    expect(() => aurocBootstrapCI([1], [0], { level: 1 })).toThrow(InvalidOptionError);
    expect(() => aurocBootstrapCI([1], [0], { seed: 0.5 })).toThrow(InvalidOptionError);
  });
  it('spearman: mismatched lengths, constant input', () => {
    expect(() => spearman([1, 2, 3], [1, 2])).toThrow(LengthMismatchError);
    expect(() => spearman([1, 1, 1], [1, 2, 3])).toThrow(DegenerateInputError);
    expect(() => spearman([1, 2, 3], [5, 5, 5])).toThrow(/b is constant/);
    expect(() => spearman([1], [2])).toThrow(DegenerateInputError);
    expect(() => spearman([], [])).toThrow(EmptyInputError);
  });
  it('tags errors so isInstance works without instanceof', () => {
    try {
      auroc([], [1]);
    } catch (e) {
      const copy = { ...(e as object), _tag: (e as EmptyInputError)._tag };
      expect(EmptyInputError.isInstance(copy)).toBe(true);
      expect(NonFiniteScoreError.isInstance(copy)).toBe(false);
      return;
    }
    throw new Error('expected a throw');
  });
});

describe('fprAtTpr and thresholdAtTpr', () => {
  it('use floating-point k/n >= target like a ROC comparison (0.07 of 100 needs 7)', () => {
    const inScores = Array.from({ length: 100 }, (_, i) => i);
    expect(thresholdAtTpr(inScores, 0.07)).toBe(93);
    expect(thresholdAtTpr(inScores, 1)).toBe(0);
    expect(thresholdAtTpr([5], 0.01)).toBe(5);
  });
  it('the threshold reaches the target and the next higher in-score does not', () => {
    const a = normals(997, 0, 5);
    for (const target of [0.5, 0.9, 0.95, 0.99]) {
      const t = thresholdAtTpr(a, target);
      const reached = a.filter((v) => v >= t).length / a.length;
      expect(reached).toBeGreaterThanOrEqual(target);
      const above = a.filter((v) => v > t);
      const nextUp = Math.min(...above);
      expect(a.filter((v) => v >= nextUp).length / a.length).toBeLessThan(target);
    }
  });
  it('counts every out-score tied with the threshold as a false positive', () => {
    expect(fprAtTpr([3, 2, 1], [1, 1, 0, 5], 1)).toBe(0.75);
  });
});

describe('spearman ranks', () => {
  it('averages tied ranks', () => {
    expect([...averageRanks(Float64Array.from([10, 20, 10, 30, 20, 20]))]).toEqual([
      1.5, 4, 1.5, 6, 4, 4,
    ]);
  });
  it('is invariant to monotone transforms and symmetric', () => {
    const a = normals(200, 0, 7);
    const b = a.map((v, i) => v + (normals(200, 0, 8)[i] as number));
    expect(spearman(a.map(Math.exp), b)).toBeCloseTo(spearman(a, b), 14);
    expect(spearman(b, a)).toBe(spearman(a, b));
  });
});

describe('aurocBootstrapCI', () => {
  it('a weighted merge equals auroc of the explicitly resampled arrays', () => {
    const a = Float64Array.from([0, 1, 1, 2, 3, 3, 3, 5]);
    const b = Float64Array.from([-1, 1, 2, 2, 4]);
    const r = seededRng(11);
    const ca = new Uint32Array(a.length);
    const cb = new Uint32Array(b.length);
    for (let trial = 0; trial < 50; trial++) {
      drawMultiplicities(ca, (n) => r.int(n));
      drawMultiplicities(cb, (n) => r.int(n));
      const expand = (v: Float64Array, c: Uint32Array) =>
        [...v].flatMap((x, i) => Array(c[i]).fill(x));
      expect(aurocOfSorted(a, b, ca, cb)).toBeCloseTo(
        pairwiseAuroc(expand(a, ca), expand(b, cb)),
        14,
      );
    }
  });
  it('is reproducible for a seed and changes with the seed', () => {
    const a = normals(100, 0.5, 1);
    const b = normals(80, 0, 2);
    const x = aurocBootstrapCI(a, b, { resamples: 200, seed: 4 });
    expect(aurocBootstrapCI(a, b, { resamples: 200, seed: 4 })).toEqual(x);
    expect(aurocBootstrapCI(a, b, { resamples: 200, seed: 5 }).lower).not.toBe(x.lower);
    expect(x.estimate).toBe(auroc(a, b));
    expect(x.lower).toBeLessThan(x.estimate);
    expect(x.upper).toBeGreaterThan(x.estimate);
  });
  it('has a standard error close to the Hanley-McNeil formula', () => {
    const a = normals(400, 1, 21);
    const b = normals(300, 0, 22);
    const ci = aurocBootstrapCI(a, b, { resamples: 1000, seed: 1 });
    const A = ci.estimate;
    const q1 = A / (2 - A);
    const q2 = (2 * A * A) / (1 + A);
    const se = Math.sqrt(
      (A * (1 - A) + (400 - 1) * (q1 - A * A) + (300 - 1) * (q2 - A * A)) / (400 * 300),
    );
    expect(ci.standardError / se).toBeGreaterThan(0.85);
    expect(ci.standardError / se).toBeLessThan(1.15);
  });
  it('covers the true AUROC about `level` of the time', () => {
    // Two unit normals a distance 1 apart: true AUROC = Phi(1 / sqrt 2).
    const truth = phi(1 / Math.SQRT2);
    let covered = 0;
    const datasets = 200;
    for (let d = 0; d < datasets; d++) {
      const ci = aurocBootstrapCI(normals(60, 1, 1000 + d), normals(50, 0, 5000 + d), {
        resamples: 300,
        level: 0.9,
        seed: d,
      });
      if (ci.lower <= truth && truth <= ci.upper) covered++;
    }
    // Binomial(200, 0.9) has sd ~ 4.2; the percentile bootstrap runs slightly short at n = 50.
    expect(covered / datasets).toBeGreaterThan(0.82);
    expect(covered / datasets).toBeLessThan(0.97);
  });
});
