import { selectBackend } from '@hierglow/backend-wasm';
import { seededNormal } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { standardNormalLogProb } from './layout.js';
import { ConditionalPrior, LearnedTopPrior, PerDimensionPrior } from './prior.js';
import { maxAbsDiff, values } from './test-support/fixtures.js';

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

beforeAll(async () => {
  await selectBackend('cpu');
});

describe('per-scale priors', () => {
  it('PerDimensionPrior: u = (exp(logs) + 1e-8)(z + loc) with parameters in NCHW order, A = Σ log scale', () => {
    const prior = new PerDimensionPrior([1, 2, 2]);
    // NHWC z[0, 0, w, c] for w, c in 0..1; NCHW index = c·2 + w.
    const loc = [0.5, -1, 2, 0];
    const logs = [0, Math.log(2), -30, 1];
    tf.tidy(() => {
      prior.variables().loc!.assign(tf.tensor1d(loc));
      prior.variables().logs!.assign(tf.tensor1d(logs));
      const z = tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]); // (w0,c0)=1 (w0,c1)=2 (w1,c0)=3 (w1,c1)=4
      const { u, logDet } = prior.standardize(z);
      const scale = logs.map((l) => Math.exp(l) + 1e-8);
      const nchwZ = [1, 3, 2, 4];
      const expectedNchw = nchwZ.map((v, i) => scale[i]! * (v + loc[i]!));
      const got = values(u); // NHWC order back: (w0,c0), (w0,c1), (w1,c0), (w1,c1)
      const expected = [expectedNchw[0], expectedNchw[2], expectedNchw[1], expectedNchw[3]];
      got.forEach((v, i) => {
        expect(v).toBeCloseTo(expected[i]!, 5);
      });
      const expectedA = scale.reduce((a, s) => a + Math.log(s), 0);
      expect(values(logDet)[0]).toBeCloseTo(expectedA, 4);
      // eps keeps a collapsed dimension (logs = −30) from an infinite log-det: log(1e-8 + e^−30).
      expect(expectedA).toBeGreaterThan(-19);
      const back = prior.unstandardize(u);
      expect(maxAbsDiff(back.z, z)).toBeLessThan(1e-5);
      expect(values(back.logDet)[0]).toBeCloseTo(-expectedA, 4);
    });
    prior.dispose();
  });

  it('ConditionalPrior: A + Z = Σ log N(z; μ, σ) with μ, log σ the even and odd conv outputs; N(0, I) at init', () => {
    const prior = new ConditionalPrior([2, 2, 2], 3);
    tf.tidy(() => {
      const z = seededNormal([2, 2, 2, 2], 1) as tf.Tensor4D;
      const h = seededNormal([2, 2, 2, 3], 2) as tf.Tensor4D;
      const atInit = prior.standardize(z, h);
      expect(maxAbsDiff(atInit.u, z)).toBe(0);
      expect(values(atInit.logDet).map(Math.abs)).toEqual([0, 0]);
      // With zero kernel, the outputs are the bias times exp(3·logs): [μ0, logσ0, μ1, logσ1].
      const bias = [0.3, -0.2, -1, 0.5];
      const logs = [0.1, 0, -0.1, 0.2];
      const rest = prior.variables();
      rest['conv.bias']!.assign(tf.tensor1d(bias));
      rest['conv.logs']!.assign(tf.tensor1d(logs));
      const out = bias.map((b, i) => b * Math.exp(3 * logs[i]!));
      const mu = [out[0]!, out[2]!];
      const logSigma = [out[1]!, out[3]!];
      const { u, logDet } = prior.standardize(z, h);
      const zs = values(z);
      let expected0 = 0;
      zs.slice(0, 8).forEach((v, i) => {
        const c = i % 2;
        expected0 +=
          -((v - mu[c]!) ** 2) / (2 * Math.exp(2 * logSigma[c]!)) - logSigma[c]! - HALF_LOG_2PI;
      });
      const total = tf.add(logDet, standardNormalLogProb(u));
      expect(values(total)[0]).toBeCloseTo(expected0, 4);
      // The kernel makes μ, σ depend on h: a nonzero kernel changes the density.
      rest['conv.weight']!.assign(tf.fill([3, 3, 3, 4], 0.05));
      const moved = prior.standardize(z, h);
      expect(maxAbsDiff(moved.u, u)).toBeGreaterThan(1e-3);
      const back = prior.unstandardize(moved.u, h);
      expect(maxAbsDiff(back.z, z)).toBeLessThan(1e-5);
      expect(maxAbsDiff(tf.add(back.logDet, moved.logDet), tf.zeros([2]))).toBeLessThan(1e-5);
    });
    prior.dispose();
  });

  it('LearnedTopPrior: per-dimension learned mean and log-std, N(0, I) at init', () => {
    const prior = new LearnedTopPrior([1, 1, 2]);
    tf.tidy(() => {
      const z = tf.tensor4d([1, -2], [1, 1, 1, 2]);
      expect(Math.abs(values(prior.standardize(z).logDet)[0]!)).toBe(0);
      prior.variables().mean!.assign(tf.tensor3d([0.5, 1], [1, 1, 2]));
      prior.variables().logs!.assign(tf.tensor3d([0, Math.log(3)], [1, 1, 2]));
      const { u, logDet } = prior.standardize(z);
      expect(values(u)[0]).toBeCloseTo(0.5, 6);
      expect(values(u)[1]).toBeCloseTo(-1, 6);
      expect(values(logDet)[0]).toBeCloseTo(-Math.log(3), 6);
    });
    prior.dispose();
  });
});
