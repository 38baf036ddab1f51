import { ShapeError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.js';
import { withFastPaths } from '../fast-paths.js';
import { type ConvPadding, conv2d, conv2dBias, filterGradRoute } from './conv2d.js';
import { normals, relativeError } from './test-support/numeric.js';

interface Case {
  kernel: number;
  padding: ConvPadding;
  /** Input and output channels: they pick the filter-gradient route (see filterGrad). */
  inC: number;
  outC: number;
  route: string;
}

const batchAndSize = [2, 5, 6] as const;

function xShapeOf(c: Case): [number, number, number, number] {
  return [...batchAndSize, c.inC];
}

function filterShape(c: Case): [number, number, number, number] {
  return [c.kernel, c.kernel, c.inC, c.outC];
}

/**
 * Value and gradients of `sum(conv(x, w) * r)` for fixed random x, w, r: the gradients are the
 * vector-Jacobian products with r, which exercises every output position.
 */
function valueAndGrads(
  conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D,
  c: Case,
): { y: Float32Array; dx: Float32Array; dw: Float32Array } {
  return tf.tidy(() => {
    const xs = xShapeOf(c);
    const x = tf.tensor4d(normals(tf.util.sizeFromShape(xs), 1), xs);
    const ws = filterShape(c);
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

const cases: Case[] = [];
for (const padding of ['same', 'valid'] as const) {
  cases.push(
    { kernel: 3, padding, inC: 3, outC: 4, route: 'transposed conv' },
    { kernel: 1, padding, inC: 3, outC: 4, route: 'matMul' },
    { kernel: 3, padding, inC: 2, outC: 16, route: 'input patches' },
    { kernel: 3, padding, inC: 16, outC: 2, route: 'output patches' },
    // Patches 27 wide against 8 channels: a transposed conv, or with HierglowPatches (wasm,
    // 'same') output patches.
    { kernel: 3, padding, inC: 8, outC: 3, route: 'transposed conv' },
  );
}

describe('conv2d (custom gradients through forward convolutions)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const c of cases) {
      for (const fast of [true, false]) {
        const path = fast ? `fast path (${c.route})` : 'reference path';
        it(`matches native cpu tf.conv2d gradients on ${backend}: ${c.kernel}x${c.kernel} ${c.padding}, ${c.inC}→${c.outC} channels, ${path}`, async () => {
          if (fast) expect(filterGradRoute(filterShape(c))).toBe(c.route);
          await selectBackend('cpu');
          const native = valueAndGrads((x, w) => tf.conv2d(x, w, 1, c.padding), c);
          await selectBackend(backend);
          expect(tf.getBackend()).toBe(backend);
          const before = tf.memory().numTensors;
          const ours = withFastPaths(fast, () =>
            valueAndGrads((x, w) => conv2d(x, w, c.padding), c),
          );
          expect(tf.memory().numTensors).toBe(before);
          expect(ours.y.length).toBe(native.y.length);
          expect(relativeError(ours.y, native.y)).toBeLessThan(1e-5);
          expect(relativeError(ours.dx, native.dx)).toBeLessThan(1e-5);
          expect(relativeError(ours.dw, native.dw)).toBeLessThan(1e-5);
        });
      }
    }
  }

  it('takes patches up to 4x as wide as the other side when they are a copy (HierglowPatches)', () => {
    expect(filterGradRoute([3, 3, 8, 3], true)).toBe('output patches');
    expect(filterGradRoute([3, 3, 3, 8], true)).toBe('input patches');
    expect(filterGradRoute([3, 3, 64, 16], true)).toBe('output patches');
    expect(filterGradRoute([3, 3, 64, 16], false)).toBe('transposed conv');
    expect(filterGradRoute([3, 3, 64, 64], true)).toBe('transposed conv');
    expect(filterGradRoute([1, 1, 64, 64], true)).toBe('matMul');
  });

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

/** Value and gradients (x, filter, bias) of `sum(f(x, w, b) * r)`. */
function biasValueAndGrads(
  conv: (x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D) => tf.Tensor4D,
  c: Case,
): Float32Array[] {
  return tf.tidy(() => {
    const xs = xShapeOf(c);
    const x = tf.tensor4d(normals(tf.util.sizeFromShape(xs), 4), xs);
    const ws = filterShape(c);
    const w = tf.tensor4d(normals(tf.util.sizeFromShape(ws), 5), ws);
    const b = tf.tensor1d(normals(c.outC, 6));
    const y = conv(x, w, b);
    const r = tf.tensor(normals(y.size, 7), y.shape);
    const grads = tf.grads((p: tf.Tensor, q: tf.Tensor, v: tf.Tensor) =>
      tf.sum(tf.mul(conv(p as tf.Tensor4D, q as tf.Tensor4D, v as tf.Tensor1D), r)),
    )([x, w, b]);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

/** Every way the bias gradient is computed: its own sum, or a row of the filter product. */
const biasCases: Case[] = [
  { kernel: 3, padding: 'same', inC: 3, outC: 4, route: 'transposed conv' },
  { kernel: 3, padding: 'same', inC: 2, outC: 16, route: 'input patches' },
  { kernel: 3, padding: 'valid', inC: 2, outC: 16, route: 'input patches' },
  { kernel: 1, padding: 'same', inC: 6, outC: 4, route: 'matMul' },
  { kernel: 1, padding: 'valid', inC: 3, outC: 4, route: 'matMul' },
  { kernel: 3, padding: 'same', inC: 32, outC: 2, route: 'output patches' },
  { kernel: 3, padding: 'valid', inC: 32, outC: 2, route: 'output patches' },
  { kernel: 3, padding: 'valid', inC: 16, outC: 2, route: 'output patches' },
  { kernel: 3, padding: 'same', inC: 8, outC: 3, route: 'transposed conv' },
];

describe('conv2dBias (fused bias and activation)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    for (const activation of ['linear', 'relu'] as const) {
      for (const c of biasCases) {
        it(`matches activation(conv2d + bias) and its gradients on ${backend}: ${activation}, ${c.kernel}x${c.kernel} ${c.padding}, ${c.inC}→${c.outC} (${c.route})`, async () => {
          expect(filterGradRoute(filterShape(c))).toBe(c.route);
          await selectBackend('cpu');
          const native = biasValueAndGrads((x, w, b) => {
            const y = tf.add(tf.conv2d(x, w, 1, c.padding), b) as tf.Tensor4D;
            return activation === 'relu' ? (tf.relu(y) as tf.Tensor4D) : y;
          }, c);
          await selectBackend(backend);
          for (const fast of [true, false]) {
            const before = tf.memory().numTensors;
            const ours = withFastPaths(fast, () =>
              biasValueAndGrads((x, w, b) => conv2dBias(x, w, b, c.padding, activation), c),
            );
            expect(tf.memory().numTensors).toBe(before);
            // value, dx, dfilter, dbias
            ours.forEach((values, i) => {
              expect(relativeError(values, native[i]!)).toBeLessThan(1e-5);
            });
          }
        });
      }
    }
  }

  it('rejects a bias of the wrong shape', async () => {
    await selectBackend('cpu');
    tf.tidy(() => {
      const x = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D;
      const w = tf.zeros([3, 3, 2, 5]) as tf.Tensor4D;
      expect(() => conv2dBias(x, w, tf.zeros([4]) as tf.Tensor1D)).toThrow(ShapeError);
    });
  });
});
