import { ShapeError } from '@hierglow/flow-layers';
import { seededNormal } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.js';
import { withFastPaths } from '../fast-paths.js';
import { concatChannelHalves, deinterleaveChannels, splitChannelHalves } from './channels.js';

/** Plain-JS expectations: the last axis of a row-major array split by `pick(channel)`. */
function pickChannels(values: Float32Array, c: number, pick: (ch: number) => boolean): number[] {
  return Array.from(values).filter((_, i) => pick(i % c));
}

const shapes = [
  [3, 4, 5, 4],
  [2, 3, 3, 12],
  [5, 6],
  [2, 2, 2, 80], // long rows: the stock ops run
];

describe('channel ops (last-axis halves and pairs)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const shape of shapes) {
      for (const fast of [true, false]) {
        it(`split, concat and de-interleave [${shape}] exactly on ${backend} (fast paths ${fast ? 'on' : 'off'})`, async () => {
          await selectBackend(backend);
          const c = shape[shape.length - 1]!;
          const half = [...shape.slice(0, -1), c / 2];
          const before = tf.memory().numTensors;
          withFastPaths(fast, () =>
            tf.tidy(() => {
              const x = seededNormal(shape, 3);
              const values = x.dataSync() as Float32Array;
              const [a, b] = splitChannelHalves(x);
              expect(a.shape).toEqual(half);
              expect(Array.from(a.dataSync())).toEqual(pickChannels(values, c, (k) => k < c / 2));
              expect(Array.from(b.dataSync())).toEqual(pickChannels(values, c, (k) => k >= c / 2));
              expect(Array.from(concatChannelHalves(a, b).dataSync())).toEqual(Array.from(values));
              const [even, odd] = deinterleaveChannels(x);
              expect(even.shape).toEqual(half);
              expect(Array.from(even.dataSync())).toEqual(
                pickChannels(values, c, (k) => k % 2 === 0),
              );
              expect(Array.from(odd.dataSync())).toEqual(
                pickChannels(values, c, (k) => k % 2 === 1),
              );
            }),
          );
          expect(tf.memory().numTensors).toBe(before);
        });
      }
    }

    it(`has the gradients of the stock ops on ${backend}`, async () => {
      await selectBackend(backend);
      const shape = [2, 3, 3, 6];
      const grads = (fast: boolean) =>
        withFastPaths(fast, () =>
          tf.tidy(() => {
            const x = seededNormal(shape, 4);
            const r = seededNormal(shape, 5);
            const w = seededNormal([...shape.slice(0, -1), 3], 6);
            const f = (v: tf.Tensor) => {
              const [a, b] = splitChannelHalves(v);
              const [even, odd] = deinterleaveChannels(v);
              const joined = concatChannelHalves(tf.mul(a, odd), tf.add(b, tf.mul(even, w)));
              return tf.sum(tf.mul(joined, r));
            };
            return Array.from(tf.grad(f)(x).dataSync());
          }),
        );
      const fastGrad = grads(true);
      const reference = grads(false);
      expect(fastGrad).toEqual(reference);
    });
  }

  it('rejects an odd last axis with a ShapeError', async () => {
    await selectBackend('cpu');
    tf.tidy(() => {
      expect(() => splitChannelHalves(tf.zeros([2, 3]))).toThrow(ShapeError);
      expect(() => deinterleaveChannels(tf.zeros([2, 5]))).toThrow(ShapeError);
      expect(() => concatChannelHalves(tf.zeros([2, 3]), tf.zeros([2, 4]))).toThrow(ShapeError);
    });
  });
});
