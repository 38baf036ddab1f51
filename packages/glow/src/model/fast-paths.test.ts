import { setFastPaths, withFastPaths } from '@hierglow/backend-wasm';
import { perturbVariables } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, expect, it } from 'vitest';
import { Glow } from './glow.js';
import { modelAsBijector } from './model-bijector.js';
import { describeOnBackends, noisyPixels, TINY_GLOW } from './test-support/fixtures.js';

/**
 * Issue 7: the optimised computation paths (folded ActNorms, fused conv kernels, matMul filter
 * gradients, transposed channel splits) must leave a model's results unchanged up to float32
 * rounding. Hidden width 32 makes the coupling nets take every filter-gradient route (matMul
 * for the 1x1 conv, patches of x for conv1, patches of dy for conv3 at scale 0, the transposed
 * conv for conv3 at scale 1).
 */
const CONFIG = { ...TINY_GLOW, hidden: 32 };

/** √(Σ (a − b)² / Σ b²). */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i]! - b[i]!) ** 2;
    norm += b[i]! ** 2;
  }
  return Math.sqrt(diff / Math.max(norm, 1e-30));
}

afterAll(() => {
  setFastPaths(true);
});

describeOnBackends('optimised paths agree with the straightforward ones', () => {
  // Built on first use, once the describe's backend is selected.
  let model: { glow: Glow; x: tf.Tensor4D } | null = null;
  const prepare = () => {
    if (model) return model;
    const glow = new Glow(CONFIG);
    const x = noisyPixels(5, [8, 8, 1], 3);
    glow.initialize(x);
    perturbVariables(modelAsBijector(glow), 11, 0.05);
    model = { glow, x };
    return model;
  };
  afterAll(() => {
    model?.glow.dispose();
    model?.x.dispose();
  });

  it('logProb and its per-scale terms (rtol 1e-5)', () => {
    const { glow, x } = prepare();
    const run = (fast: boolean) =>
      withFastPaths(fast, () =>
        tf.tidy(() => {
          const { logP, perScale } = glow.logProb(x);
          return [logP, ...perScale].map((t) => Array.from(t.dataSync()));
        }),
      );
    const [fast, reference] = [run(true), run(false)];
    fast.forEach((values, k) => {
      values.forEach((v, b) => {
        const ref = reference[k]![b]!;
        expect(Number.isFinite(v)).toBe(true);
        // A scale's term can be a near-cancelling sum of parts in the hundreds (flow, prior
        // ActNorm and Gaussian log-densities), so float32 rounding is relative to the
        // example's largest term, not to the (possibly tiny) result.
        const magnitude = Math.max(1, ...reference.map((terms) => Math.abs(terms[b]!)));
        expect(Math.abs(v - ref)).toBeLessThanOrEqual(1e-5 * magnitude);
      });
    });
  });

  it('gradients of the mean NLL with respect to every trainable variable (rtol 1e-5)', () => {
    const { glow, x } = prepare();
    const names = Object.entries(glow.variables()).filter(([, v]) => v.trainable);
    const run = (fast: boolean) =>
      withFastPaths(fast, () =>
        tf.tidy(() => {
          const { grads } = tf.variableGrads(
            () => tf.neg(tf.mean(glow.logProb(x).logP)) as tf.Scalar,
            names.map(([, v]) => v),
          );
          return names.map(([, v]) => grads[v.name]!.dataSync());
        }),
      );
    const before = tf.memory().numTensors;
    const fast = run(true);
    expect(tf.memory().numTensors).toBe(before);
    const reference = run(false);
    const all = { fast: [] as number[], reference: [] as number[] };
    names.forEach(([name], i) => {
      all.fast.push(...fast[i]!);
      all.reference.push(...reference[i]!);
      // Per variable: looser, since a small gradient can be a difference of large terms.
      expect(relativeError(fast[i]!, reference[i]!), name).toBeLessThan(1e-4);
    });
    expect(relativeError(all.fast, all.reference)).toBeLessThan(1e-5);
  });
});
