import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  EmptyInputError,
  InvalidOptionError,
  LengthMismatchError,
  NonFiniteScoreError,
  ShapeError,
} from '../errors.js';
import { auroc } from '../metrics/auroc.js';
import { useCpuBackend } from '../test-support/cpu-backend.js';
import {
  finalScaleScore,
  likelihoodRatioScore,
  logLikelihoodScore,
  negativeBitsPerDimScore,
  perScaleLikelihoodRatioScores,
  perScaleScores,
} from './likelihood-scores.js';
import { REFERENCE_NON_FINITE_LOG_P } from './non-finite.js';
import { type LikelihoodOutput, readLikelihoodOutput } from './per-example-values.js';

beforeAll(useCpuBackend);

const D = 3072;
/** A fake model output whose parts are consistent: logP = sum of per-scale terms. */
function output(perScale: number[][]): LikelihoodOutput {
  const logP = perScale[0]!.map((_, i) => perScale.reduce((s, lp) => s + lp[i]!, 0));
  return { logP, perScale, bitsPerDim: logP.map((lp) => 8 - lp / (D * Math.LN2)) };
}

describe('single-model scores', () => {
  const out = output([
    [-10000, -12000, -9000],
    [-6000, -5000, -7000],
    [-3000, -3100, -2900],
  ]);
  it('log-likelihood is the sum of scales, higher = more in-distribution', () => {
    expect([...logLikelihoodScore(out)]).toEqual([-19000, -20100, -18900]);
    expect([...logLikelihoodScore([-1, -2])]).toEqual([-1, -2]);
  });
  it('negative bpd ranks exactly like log p', () => {
    const nbpd = negativeBitsPerDimScore(out);
    expect(nbpd[0]).toBeCloseTo(-(8 + 19000 / (D * Math.LN2)), 12);
    expect(auroc([nbpd[2]!], [nbpd[0]!, nbpd[1]!])).toBe(1);
    expect(auroc([logLikelihoodScore(out)[2]!], [...logLikelihoodScore(out).subarray(0, 2)])).toBe(
      1,
    );
  });
  it('per-scale and final-scale scores', () => {
    const scales = perScaleScores(out);
    expect(scales).toHaveLength(3);
    expect([...scales[1]!]).toEqual([-6000, -5000, -7000]);
    expect([...finalScaleScore(out)]).toEqual([-3000, -3100, -2900]);
    expect([...finalScaleScore([[1], [2]])]).toEqual([2]);
  });
  it('reads rank-1 tensors and rejects other ranks', () => {
    const t = tf.tensor1d([-5, -6]);
    expect([...logLikelihoodScore(t)]).toEqual([-5, -6]);
    const m = tf.zeros([2, 2]);
    expect(() => logLikelihoodScore(m)).toThrow(ShapeError);
    expect(() => logLikelihoodScore(m)).toThrow(/shape \[2, 2\]/);
    tf.dispose([t, m]);
  });
  it('reads a whole output made of tensors', () => {
    const o = {
      logP: tf.tensor1d([-3, -4]),
      perScale: [tf.tensor1d([-1, -1]), tf.tensor1d([-2, -3])],
      bitsPerDim: tf.tensor1d([1, 2]),
    };
    expect([...finalScaleScore(o)]).toEqual([-2, -3]);
    expect([...negativeBitsPerDimScore(o)]).toEqual([-1, -2]);
    tf.dispose([o.logP, o.bitsPerDim, ...o.perScale]);
  });
});

describe('non-finite policy', () => {
  const logP = [-100, Number.NaN, Number.POSITIVE_INFINITY, -200];
  it("'error' (default) names the example", () => {
    expect(() => logLikelihoodScore(logP)).toThrow(NonFiniteScoreError);
    expect(() => logLikelihoodScore(logP)).toThrow(/logP\[1\] is NaN/);
  });
  it("'most-anomalous' ranks every non-finite log p (even +Infinity) last", () => {
    expect([...logLikelihoodScore(logP, { nonFinite: 'most-anomalous' })]).toEqual([
      -100,
      Number.NEGATIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -200,
    ]);
    const ratio = likelihoodRatioScore([-100, -100, Number.NaN], [-110, Number.NaN, -90], {
      nonFinite: 'most-anomalous',
    });
    expect([...ratio]).toEqual([10, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY]);
  });
  it("'reference-sentinel' substitutes -3e6 before differences, asymmetry included", () => {
    expect(REFERENCE_NON_FINITE_LOG_P).toBe(-3e6);
    expect([...logLikelihoodScore(logP, { nonFinite: 'reference-sentinel' })]).toEqual([
      -100, -3e6, -3e6, -200,
    ]);
    const ratio = likelihoodRatioScore([-100, Number.NaN], [Number.NaN, -100], {
      nonFinite: 'reference-sentinel',
    });
    expect([...ratio]).toEqual([-100 + 3e6, -3e6 + 100]);
  });
  it('bpd has no sentinel option and rejects unknown policies', () => {
    expect(() =>
      negativeBitsPerDimScore([1], { nonFinite: 'reference-sentinel' as 'error' }),
    ).toThrow(InvalidOptionError);
    expect([...negativeBitsPerDimScore([Number.NaN, 3], { nonFinite: 'most-anomalous' })]).toEqual([
      Number.NEGATIVE_INFINITY,
      -3,
    ]);
    expect(() => logLikelihoodScore([1], { nonFinite: 'ignore' as 'error' })).toThrow(
      /nonFinite must be one of/,
    );
  });
  it('applies to per-scale scores too', () => {
    const s = perScaleScores(
      [
        [1, Number.NaN],
        [2, 3],
      ],
      { nonFinite: 'most-anomalous' },
    );
    expect([...s[0]!]).toEqual([1, Number.NEGATIVE_INFINITY]);
    expect(() => perScaleScores([[1, Number.NaN]])).toThrow(/perScale\[0\]\[1\] is NaN/);
  });
});

describe('likelihood ratios', () => {
  const inModel = output([
    [-100, -300],
    [-50, -40],
  ]);
  const gen = output([
    [-110, -250],
    [-45, -45],
  ]);
  it('log p_in - log p_gen, full and per scale', () => {
    expect([...likelihoodRatioScore(inModel, gen)]).toEqual([5, -45]);
    const per = perScaleLikelihoodRatioScores(inModel, gen);
    expect([...per[0]!]).toEqual([10, -50]);
    expect([...per[1]!]).toEqual([-5, 5]);
    // Per-scale ratios add up to the full ratio.
    expect(per[0]![0]! + per[1]![0]!).toBe(likelihoodRatioScore(inModel, gen)[0]);
  });
  it('equals (bpd_gen - bpd_in) * D ln 2', () => {
    const r = likelihoodRatioScore(inModel, gen);
    const viaBpd = (gen.bitsPerDim as number[])[1]! - (inModel.bitsPerDim as number[])[1]!;
    expect(viaBpd * D * Math.LN2).toBeCloseTo(r[1]!, 9);
  });
  it('separates sets a raw likelihood cannot (the paper’s point, in miniature)', () => {
    // OOD images are "simpler": both models like them more, the in-model only a bit more.
    const inIn = [-100, -102, -98, -101];
    const genIn = [-110, -111, -109, -112];
    const inOut = [-60, -62, -58, -61];
    const genOut = [-55, -57, -54, -56];
    expect(auroc(logLikelihoodScore(inIn), logLikelihoodScore(inOut))).toBe(0);
    expect(auroc(likelihoodRatioScore(inIn, genIn), likelihoodRatioScore(inOut, genOut))).toBe(1);
  });
  it('rejects mismatched examples or scales, and empty inputs', () => {
    expect(() => likelihoodRatioScore([1, 2], [1])).toThrow(LengthMismatchError);
    expect(() => perScaleLikelihoodRatioScores([[1]], [[1], [2]])).toThrow(
      /1 scales but generalModel has 2/,
    );
    expect(() => likelihoodRatioScore([], [])).toThrow(EmptyInputError);
    expect(() => finalScaleScore([])).toThrow(ShapeError);
  });
});

describe('readLikelihoodOutput', () => {
  it('reads tensors with data() into arrays that score as the tensors do', async () => {
    const o = {
      logP: tf.tensor1d([-3, -4, Number.NaN]),
      perScale: [tf.tensor1d([-1, -1, -1]), tf.tensor1d([-2, -3, Number.NaN])],
      bitsPerDim: tf.tensor1d([1, 2, Number.NaN]),
    };
    const arrays = await readLikelihoodOutput(o);
    expect(Array.from(arrays.logP)).toEqual([-3, -4, Number.NaN]);
    expect(arrays.perScale.map((a) => Array.from(a))).toEqual([
      [-1, -1, -1],
      [-2, -3, Number.NaN],
    ]);
    const policy = { nonFinite: 'most-anomalous' } as const;
    expect(Array.from(finalScaleScore(arrays, policy))).toEqual(
      Array.from(finalScaleScore(o, policy)),
    );
    expect(Array.from(negativeBitsPerDimScore(arrays, policy))).toEqual(
      Array.from(negativeBitsPerDimScore(o, policy)),
    );
    // Plain arrays pass through (copied).
    const plain = await readLikelihoodOutput(output([[-1, -2]]));
    expect(Array.from(plain.logP)).toEqual([-1, -2]);
    const wrongRank = { ...o, logP: tf.zeros([3, 1]) };
    await expect(readLikelihoodOutput(wrongRank)).rejects.toThrow(ShapeError);
    tf.dispose([o.logP, o.bitsPerDim, ...o.perScale, wrongRank.logP]);
  });
});
