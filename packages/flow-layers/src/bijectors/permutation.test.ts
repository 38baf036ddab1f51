import { createRng, randomPermutation } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../errors.js';
import { seededNormal } from '../testing/index.js';
import {
  batteryOnBackends,
  describeOnBackends,
  selectBackend,
} from '../testing/test-support/on-backends.js';
import { Reverse, Shuffle } from './permutation.js';

describe('permutations', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('Reverse reverses the last axis', () => {
    const y = new Reverse().forward(tf.tensor2d([[1, 2, 3]]));
    expect(Array.from(y.dataSync())).toEqual([3, 2, 1]);
  });

  it('Shuffle applies y[..., k] = x[..., perm[k]] with the seeded permutation in a buffer', () => {
    const shuffle = new Shuffle({ size: 5, seed: 42 });
    const perm = randomPermutation(5, createRng(42));
    expect(Array.from(shuffle.permutation.dataSync())).toEqual(Array.from(perm));
    expect(shuffle.permutation.trainable).toBe(false);
    expect(shuffle.trainableVariables()).toEqual([]);
    const x = tf.tensor2d([[10, 11, 12, 13, 14]]);
    expect(Array.from(shuffle.forward(x).dataSync())).toEqual(Array.from(perm, (p) => 10 + p));
  });

  it('Shuffle follows its buffer after it is assigned (e.g. from a checkpoint)', () => {
    const shuffle = new Shuffle({ size: 3, seed: 1 });
    shuffle.permutation.assign(tf.tensor1d([2, 0, 1], 'int32'));
    const x = tf.tensor2d([[5, 6, 7]]);
    const y = shuffle.forward(x);
    expect(Array.from(y.dataSync())).toEqual([7, 5, 6]);
    expect(Array.from(shuffle.inverse(y).dataSync())).toEqual([5, 6, 7]);
    shuffle.permutation.assign(tf.tensor1d([0, 0, 1], 'int32'));
    expect(() => shuffle.forward(x)).toThrow(ConfigError);
  });

  it('rejects a wrong last axis and bad options', () => {
    expect(() => new Shuffle({ size: 4 }).forward(tf.zeros([2, 3]))).toThrow(ShapeError);
    expect(() => new Shuffle({ size: 0 })).toThrow(ConfigError);
    expect(() => new Reverse().forward(tf.zeros([3]))).toThrow(ShapeError);
  });
});

describeOnBackends('Shuffle gradient', () => {
  it('equals the inverse permutation of the upstream gradient', () => {
    const shuffle = new Shuffle({ size: 6, seed: 3 });
    const x = seededNormal([2, 6], 1);
    const weights = seededNormal([2, 6], 2);
    const g = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(shuffle.forward(input), weights)))(x);
    // d/dx_j of Σ_k w_k x_{perm[k]} = w_{k : perm[k] = j}.
    const perm = shuffle.permutation.dataSync();
    const w = weights.dataSync();
    const expected = new Float32Array(12);
    for (let b = 0; b < 2; b++)
      for (let k = 0; k < 6; k++) expected[b * 6 + perm[k]!] = w[b * 6 + k]!;
    expect(Array.from(g.dataSync())).toEqual(Array.from(expected));
  });
});

batteryOnBackends('Reverse', () => new Reverse(), [2, 2, 2, 3], { badInputShapes: [[4]] });
batteryOnBackends(
  'Shuffle (NHWC channels)',
  () => new Shuffle({ size: 4, seed: 7 }),
  [2, 2, 2, 4],
  {
    badInputShapes: [[2, 2, 2, 3], [4]],
    badOutputShapes: [[2, 2, 2, 5]],
  },
);
batteryOnBackends('Shuffle (features)', () => new Shuffle({ size: 6, seed: 9 }), [3, 6], {
  badInputShapes: [[3, 5]],
});
