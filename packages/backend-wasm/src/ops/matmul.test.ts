import { ShapeError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.js';
import { withFastPaths } from '../fast-paths.js';
import { matMul, matMulTransposeA, sumRows } from './matmul.js';
import { normals, relativeError } from './test-support/numeric.js';
import { transpose2d } from './transpose.js';

/** Value and gradients of `sum((a @ b) * r)` for fixed random a [5,7], b [7,3], r [5,3]. */
function valueAndGrads(mm: (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D) {
  return tf.tidy(() => {
    const a = tf.tensor2d(normals(35, 11), [5, 7]);
    const b = tf.tensor2d(normals(21, 12), [7, 3]);
    const r = tf.tensor2d(normals(15, 13), [5, 3]);
    const y = mm(a, b);
    const [da, db] = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
      tf.sum(tf.mul(mm(p as tf.Tensor2D, q as tf.Tensor2D), r)),
    )([a, b]);
    return {
      y: y.dataSync() as Float32Array,
      da: da!.dataSync() as Float32Array,
      db: db!.dataSync() as Float32Array,
    };
  });
}

describe('matMul (explicit-transpose gradient)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const fast of [true, false])
      it(`matches native cpu tf.matMul value and gradients on ${backend} (fast paths ${fast ? 'on' : 'off'})`, async () => {
        await selectBackend('cpu');
        const native = valueAndGrads((a, b) => tf.matMul(a, b));
        await selectBackend(backend);
        expect(tf.getBackend()).toBe(backend);
        const before = tf.memory().numTensors;
        const ours = withFastPaths(fast, () => valueAndGrads(matMul));
        expect(tf.memory().numTensors).toBe(before);
        expect(relativeError(ours.y, native.y)).toBeLessThan(1e-5);
        expect(relativeError(ours.da, native.da)).toBeLessThan(1e-4);
        expect(relativeError(ours.db, native.db)).toBeLessThan(1e-4);
      });
  }

  it('rejects mismatched shapes with a ShapeError', async () => {
    await selectBackend('cpu');
    tf.tidy(() => {
      expect(() =>
        matMul(tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([2, 3]) as tf.Tensor2D),
      ).toThrow(ShapeError);
    });
  });
});

describe('transpose2d, matMulTransposeA, sumRows', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    // Even rows (rank-3 route through the rows), odd rows with even columns, both odd.
    for (const [rows, cols] of [
      [6, 5],
      [7, 4],
      [5, 3],
      [2, 3],
    ] as const) {
      it(`transpose2d of [${rows}, ${cols}] is exact, with the transpose's gradient, on ${backend}`, async () => {
        await selectBackend(backend);
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          const x = tf.tensor2d(normals(rows * cols, 21), [rows, cols]);
          const t = transpose2d(x);
          expect(t.shape).toEqual([cols, rows]);
          expect(Array.from(t.dataSync())).toEqual(Array.from(tf.transpose(x).dataSync()));
          const r = tf.tensor2d(normals(rows * cols, 22), [cols, rows]);
          const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(transpose2d(v as tf.Tensor2D), r)))(x);
          expect(Array.from(g.dataSync())).toEqual(Array.from(tf.transpose(r).dataSync()));
        });
        expect(tf.memory().numTensors).toBe(before);
      });
    }

    it(`matMulTransposeA and sumRows match tf.matMul(transposeA) and tf.sum on ${backend}`, async () => {
      await selectBackend(backend);
      tf.tidy(() => {
        const a = tf.tensor2d(normals(40 * 3, 31), [40, 3]);
        const b = tf.tensor2d(normals(40 * 7, 32), [40, 7]);
        for (const [p, q] of [
          [a, b],
          [b, a],
        ] as const) {
          const ours = matMulTransposeA(p, q);
          const stock = tf.matMul(p, q, true, false);
          expect(ours.shape).toEqual(stock.shape);
          expect(relativeError(ours.dataSync(), stock.dataSync())).toBeLessThan(1e-6);
        }
        expect(relativeError(sumRows(b).dataSync(), tf.sum(b, 0).dataSync())).toBeLessThan(1e-6);
        expect(() => matMulTransposeA(a, tf.zeros([39, 2]) as tf.Tensor2D)).toThrow(ShapeError);
      });
    });
  }
});
