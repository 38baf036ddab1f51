import { assignVariables, ConfigError } from '@hierglow/flow-layers';
import { checkNoTensorLeak, perturbVariables } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, expect, it } from 'vitest';
import { resolveModelConfig } from './config.js';
import { createModel } from './create-model.js';
import { flattenNchw, unflattenNchw } from './flatten-nchw.js';
import { DenseGlow, Glow } from './glow.js';
import { modelAsBijector } from './model-bijector.js';
import { PatchGlow } from './patch-glow.js';
import { describeOnBackends, maxAbsDiff, noisyPixels, values } from './test-support/fixtures.js';

const owned: { dispose(): void }[] = [];
function own<T extends { dispose(): void }>(value: T): T {
  owned.push(value);
  return value;
}
afterEach(() => {
  for (const o of owned.splice(0)) o.dispose();
});

describeOnBackends('PatchGlow', () => {
  const config = { height: 8, width: 8, channels: 1, patchSize: 4, steps: 2, hidden: 4 } as const;

  it('log p(image) is the sum over its 4x4 patches, cut in row-major order, of a one-scale Glow', () => {
    const patch = own(new PatchGlow(config));
    const x = own(noisyPixels(5, [8, 8, 1], 21));
    patch.initialize(x);
    perturbVariables(modelAsBijector(patch), 22, 0.02);
    // The same flow as a plain one-scale Glow on 4x4 images; its names match levels.0.*.
    const single = own(
      new Glow({ height: 4, width: 4, channels: 1, levels: 1, stepsPerLevel: 2, hidden: 4 }),
    );
    assignVariables(single.variables(), patch.variables(), 'PatchGlow weights');
    tf.tidy(() => {
      const { logP, perScale, bitsPerDim } = patch.logProb(x);
      expect(perScale).toHaveLength(1);
      expect(maxAbsDiff(perScale[0]!, logP)).toBeLessThan(1e-4);
      let summed: tf.Tensor = tf.zeros([5]);
      for (const top of [0, 4]) {
        for (const left of [0, 4]) {
          summed = tf.add(
            summed,
            single.logProb(tf.slice(x, [0, top, left, 0], [5, 4, 4, 1])).logP,
          );
        }
      }
      expect(maxAbsDiff(logP, summed)).toBeLessThan(1e-3);
      const d = 64;
      const expectedBpd = tf.div(tf.sub(d * Math.log(256), logP), d * Math.LN2);
      expect(maxAbsDiff(bitsPerDim, expectedBpd)).toBeLessThan(1e-4);
      // Latents are per patch: image b's patches are rows 4b..4b+3, in row-major patch order.
      const [u] = patch.encode(x);
      expect(u!.shape).toEqual([20, 2, 2, 4]);
      const [uTopRight] = single.encode(tf.slice(x, [1, 0, 4, 0], [1, 4, 4, 1]));
      expect(maxAbsDiff(tf.slice(u!, [4 + 1, 0, 0, 0], [1, 2, 2, 4]), uTopRight!)).toBeLessThan(
        1e-4,
      );
      expect(maxAbsDiff(patch.decode([u!]), x)).toBeLessThan(1e-4);
      expect(patch.sample(3, { seed: 1 }).shape).toEqual([3, 8, 8, 1]);
    });
  });

  it('does not leak tensors', () => {
    const patch = own(new PatchGlow(config));
    const x = own(noisyPixels(3, [8, 8, 1], 23));
    patch.initialize(x);
    checkNoTensorLeak(() => {
      const r = patch.logProb(x);
      tf.dispose([r.logP, r.bitsPerDim, ...r.perScale]);
      const latents = patch.encode(x);
      tf.dispose([patch.decode(latents), ...latents, patch.sample(2, { seed: 3 })]);
    });
  });
});

describeOnBackends('DenseGlow', () => {
  const config = {
    height: 8,
    width: 8,
    channels: 1,
    levels: 2,
    stepsPerLevel: 2,
    hidden: 8,
  } as const;

  it('has per-dimension ActNorms, fixed untrained orthogonal mixing and dense coupling nets', () => {
    const dense = own(new DenseGlow(config));
    const vars = dense.variables();
    // Scale 0: 8x8x1 squeezed to 4x4x4 = 64 features; scale 1: 2x2x8 = 32.
    expect(vars['levels.0.steps.0.actnorm.loc']!.shape).toEqual([64]);
    expect(vars['levels.1.steps.1.actnorm.logs']!.shape).toEqual([32]);
    expect(vars['levels.0.steps.0.permute.weight']!.shape).toEqual([64, 64]);
    expect(vars['levels.0.steps.0.permute.weight']!.trainable).toBe(false);
    expect(vars['levels.0.steps.1.coupling.net.linear1.weight']!.shape).toEqual([32, 8]);
    expect(vars['levels.0.steps.1.coupling.net.linear3.weight']!.shape).toEqual([8, 64]);
    expect(vars['levels.0.prior.loc']!.shape).toEqual([32]);
    expect(dense.latentShapes).toEqual([
      [4, 4, 2],
      [2, 2, 8],
    ]);
    const w = tf.tensor2d(vars['levels.0.steps.0.permute.weight']!.dataSync(), [64, 64]);
    expect(maxAbsDiff(tf.matMul(w, tf.transpose(w)), tf.eye(64))).toBeLessThan(1e-5);
    w.dispose();
  });

  it('decomposes log p(x) by scale and inverts', () => {
    const dense = own(new DenseGlow(config));
    const x = own(noisyPixels(6, [8, 8, 1], 25));
    dense.initialize(x);
    tf.tidy(() => {
      const { logP, perScale } = dense.logProb(x);
      expect(maxAbsDiff(tf.add(perScale[0]!, perScale[1]!), logP)).toBeLessThan(1e-3);
      for (const v of values(logP)) expect(Number.isFinite(v)).toBe(true);
      const latents = dense.encode(x);
      expect(maxAbsDiff(dense.decode(latents), x)).toBeLessThan(1e-4);
    });
  });
});

describeOnBackends('model configs', () => {
  it('createModel dispatches on kind and fills in each kind’s paper defaults', () => {
    const shape = { height: 16, width: 16, channels: 1 };
    const patch = own(createModel({ kind: 'patch-glow', ...shape, steps: 1, hidden: 4 }));
    expect(patch).toBeInstanceOf(PatchGlow);
    expect(patch.getConfig()).toMatchObject({
      patchSize: 8,
      coupling: 'affine',
      permutation: 'lu',
    });
    const dense = own(createModel({ kind: 'dense-glow', ...shape, stepsPerLevel: 1, hidden: 4 }));
    expect(dense).toBeInstanceOf(DenseGlow);
    expect(dense.getConfig()).toMatchObject({ levels: 3, permutation: 'fixed' });
    expect(resolveModelConfig({ kind: 'dense-glow', ...shape })).toMatchObject({
      stepsPerLevel: 8,
      hidden: 512,
    });
    expect(resolveModelConfig({ kind: 'patch-glow', ...shape })).toMatchObject({
      steps: 32,
      hidden: 512,
    });
    expect(resolveModelConfig({ kind: 'glow', ...shape })).toMatchObject({
      levels: 3,
      stepsPerLevel: 32,
      hidden: 512,
      coupling: 'affine',
      permutation: 'lu',
      prior: 'per-dimension',
    });
  });

  it('rejects an unknown kind, a patch size that does not tile the image, and wrong kinds of fields', () => {
    expect(() =>
      createModel({ kind: 'realnvp', height: 8, width: 8, channels: 1 } as never),
    ).toThrow(/'kind' must be one of 'glow', 'patch-glow', 'dense-glow'/);
    expect(() => createModel({ kind: 'patch-glow', height: 12, width: 12, channels: 1 })).toThrow(
      /patchSize/,
    );
    expect(() =>
      createModel({
        kind: 'dense-glow',
        height: 8,
        width: 8,
        channels: 1,
        permutation: 'shuffle',
      } as never),
    ).toThrow(/'permutation' must be one of 'fixed', 'lu'/);
    expect(() =>
      createModel({
        kind: 'glow',
        height: 8,
        width: 8,
        channels: 1,
        prior: 'conditional',
        steps: 3,
      } as never),
    ).toThrow(/unknown field 'steps'/);
    expect(() => createModel({ kind: 'glow', height: 8, width: 8, channels: 1.5 })).toThrow(
      ConfigError,
    );
    expect(() =>
      createModel({ kind: 'glow', height: 8, width: 8, channels: 1, seed: 'x' } as never),
    ).toThrow(/'seed' must be an integer/);
  });

  it('flattens NHWC latents in NCHW order (c·H·W + h·W + w) and back', () => {
    tf.tidy(() => {
      // x[0, h, w, c] = 100c + 10h + w on a 2x3x2 image.
      const data: number[] = [];
      for (let h = 0; h < 2; h++)
        for (let w = 0; w < 3; w++) for (let c = 0; c < 2; c++) data.push(100 * c + 10 * h + w);
      const x = tf.tensor4d(data, [1, 2, 3, 2]);
      const flat = values(flattenNchw(x as tf.Tensor4D));
      expect(flat).toEqual([0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112]);
      expect(
        maxAbsDiff(unflattenNchw(flattenNchw(x as tf.Tensor4D), [x.shape[0]!, 2, 3, 2]), x),
      ).toBe(0);
    });
  });
}, ['cpu']);
