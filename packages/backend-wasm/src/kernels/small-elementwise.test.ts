import { seededNormal } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.js';
import { broadcastBinary } from './small-elementwise.js';

/** The JavaScript broadcasting loop itself (the wasm kernels use it only with a thread pool). */
describe('broadcastBinary', () => {
  const pairs: Array<[number[], number[]]> = [
    [
      [4, 5],
      [4, 5],
    ],
    [[3, 3, 2, 6], [6]],
    [[6], [3, 3, 2, 6]],
    [[2, 7], []],
    [[], [7, 2]],
    [
      [3, 1, 4],
      [1, 5, 1],
    ],
    [
      [5, 1],
      [1, 4],
    ],
    [
      [2, 3, 1],
      [3, 4],
    ],
    [[1], [1]],
  ];
  const ops: Array<
    [string, (a: number, b: number) => number, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]
  > = [
    ['mul', (a, b) => a * b, tf.mul],
    ['add', (a, b) => a + b, tf.add],
    ['sub', (a, b) => a - b, tf.sub],
    ['div', (a, b) => a / b, tf.div],
  ];
  for (const [aShape, bShape] of pairs) {
    it(`matches the cpu backend bit for bit on [${aShape}] and [${bShape}]`, async () => {
      await selectBackend('cpu');
      tf.tidy(() => {
        const a = seededNormal(aShape, 1);
        const b = seededNormal(bShape, 2);
        const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
        for (const [name, op, stock] of ops) {
          const out = new Float32Array(tf.util.sizeFromShape(shape));
          broadcastBinary(a.dataSync(), a.shape, b.dataSync(), b.shape, out, shape, op);
          expect(Array.from(out), name).toEqual(Array.from(stock(a, b).dataSync()));
        }
      });
    });
  }
});
