import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from '../errors.js';
import { seededNormal } from '../testing/index.js';
import { batteryOnBackends, selectBackend } from '../testing/test-support/on-backends.js';
import { Reshape } from './reshape.js';

describe('Reshape', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('flattens NHWC events in row-major order and back', () => {
    const flatten = new Reshape({ from: [2, 2, 3], to: [12] });
    const x = seededNormal([2, 2, 2, 3], 4);
    const y = flatten.forward(x);
    expect(y.shape).toEqual([2, 12]);
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    expect(flatten.inverse(y).shape).toEqual([2, 2, 2, 3]);
  });

  it('checks its options and its inputs', () => {
    expect(() => new Reshape({ from: [2, 3], to: [5] })).toThrow(ConfigError);
    const r = new Reshape({ from: [4], to: [2, 2] });
    expect(() => r.forward(tf.zeros([3, 5]))).toThrow(ShapeError);
    expect(() => r.inverse(tf.zeros([3, 4]))).toThrow(/expects \[batch, 2, 2\]/);
  });
});

batteryOnBackends(
  'Reshape (flatten)',
  () => new Reshape({ from: [2, 2, 2], to: [8] }),
  [2, 2, 2, 2],
  {
    badInputShapes: [
      [2, 2, 2, 3],
      [2, 8],
    ],
    badOutputShapes: [
      [2, 7],
      [2, 2, 2, 2],
    ],
  },
);
batteryOnBackends('Reshape (unflatten)', () => new Reshape({ from: [6], to: [3, 2] }), [3, 6], {
  badInputShapes: [[3, 5]],
  badOutputShapes: [[3, 6]],
});
