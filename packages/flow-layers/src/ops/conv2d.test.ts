import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.js';
import { ShapeError } from '../errors.js';
import { createRng } from '../rng.js';
import { type ConvPadding, conv2d } from './conv2d.js';

/** Seeded standard-normal values, so every backend sees the same inputs. */
function normals(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}

function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}

interface Case {
  kernel: number;
  padding: ConvPadding;
}

const xShape: [number, number, number, number] = [2, 5, 6, 3];
const outChannels = 4;

function filterShape(kernel: number): [number, number, number, number] {
  return [kernel, kernel, xShape[3], outChannels];
}

/**
 * Value and gradients of `sum(conv(x, w) * r)` for fixed random x, w, r: the gradients are the
 * vector-Jacobian products with r, which exercises every output position.
 */
function valueAndGrads(
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  kernel: number,
): { y: Float32Array; dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const x = tf.tensor4d(normals(tf.util.sizeFromShape(xShape), 1), xShape);
    const ws = filterShape(kernel);
    const w = tf.tensor4d(normals(tf.util.sizeFromShape(ws), 2), ws);
    const y = conv(x, w);
    const r = tf.tensor(normals(y.size, 3), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r)),
    )([x, w]);
    return {
      y: y.dataSync() as Float32Array,
      dx: dx!.dataSync() as Float32Array,
      dw: dw!.dataSync() as Float32Array,
    };
  });
}

const cases: Case[] = [
  { kernel: 3, padding: 'same' },
  { kernel: 3, padding: 'valid' },
  { kernel: 1, padding: 'same' },
  { kernel: 1, padding: 'valid' },
];

describe('conv2d (custom gradients through forward convolutions)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const c of cases) {
      it(`matches native cpu tf.conv2d gradients on ${backend}: ${c.kernel}x${c.kernel} ${c.padding}`, async () => {
        await selectBackend('cpu');
        const native = valueAndGrads((x, w) => tf.conv2d(x, w, 1, c.padding), c.kernel);
        await selectBackend(backend);
        expect(tf.getBackend()).toBe(backend);
        const before = tf.memory().numTensors;
        const ours = valueAndGrads((x, w) => conv2d(x, w, c.padding), c.kernel);
        expect(tf.memory().numTensors).toBe(before);
        expect(ours.y.length).toBe(native.y.length);
        expect(relativeError(ours.y, native.y)).toBeLessThan(1e-5);
        expect(relativeError(ours.dx, native.dx)).toBeLessThan(1e-4);
        expect(relativeError(ours.dw, native.dw)).toBeLessThan(1e-4);
      });
    }
  }

  it('rejects inputs it cannot take with a ShapeError', async () => {
    await selectBackend('cpu');
    tf.tidy(() => {
      const w = tf.zeros([3, 3, 3, 2]) as tf.Tensor4D;
      expect(() => conv2d(tf.zeros([2, 4, 4, 2]) as tf.Tensor4D, w)).toThrow(ShapeError);
      expect(() => conv2d(tf.zeros([4, 4, 3]) as unknown as tf.Tensor4D, w)).toThrow(ShapeError);
      const even = tf.zeros([2, 2, 3, 2]) as tf.Tensor4D;
      expect(() => conv2d(tf.zeros([1, 4, 4, 3]) as tf.Tensor4D, even)).toThrow(ShapeError);
    });
  });
});
