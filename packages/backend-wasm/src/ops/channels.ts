import { PLAIN_OPS } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { fastPathsEnabled } from '../fast-paths.js';
import {
  joinHalvesKernel,
  simdKernelsAvailable,
  splitHalvesKernel,
} from '../kernels/simd-kernels.js';
import { customGradMulti } from './custom-grad.js';

/**
 * Channel (last-axis) halving, joining and de-interleaving without slicing along the last axis.
 *
 * Why: the wasm backend slices and concatenates along an inner axis in JavaScript, one
 * `TypedArray.set` per row, and splitting `[..., 2, 2]` pairs on a rank-5 tensor falls back to
 * a generic per-value copy. A Transpose (compiled) that brings the halves to the front turns
 * both into contiguous copies, several times cheaper. Values are only moved, so results are
 * exact, and every
 * piece (reshape, transpose, split/concat on axis 0) has a fast stock gradient.
 *
 * On wasm with hierglow's SIMD kernels, halving and joining are one kernel each way instead
 * (`HierglowSplitHalves`, `HierglowJoinHalves`: one pass, each the other's gradient).
 *
 * With {@link fastPathsEnabled} off, or rows long enough that per-row copies are cheap, the
 * stock ops run instead.
 */

/** Rows at least this long (floats) are split/joined by the stock ops, which are then fast. */
const LONG_ROW = 32;

/** `[first half, second half]` of the last axis of `x` (even length). */
export function splitChannelHalves(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const c = evenLastAxis(x);
  // The plain ops also report a shape they cannot take (odd or missing last axis).
  if (c === null) return PLAIN_OPS.splitChannelHalves(x);
  const half = c / 2;
  if (simdKernelsAvailable() && x.dtype === 'float32') {
    const out = customGradMulti([x], () => ({
      values: splitHalvesKernel(x),
      gradFunc: ([da, db]) => [joinHalvesKernel(da!, db!)],
    }));
    if (out) return [out[0]!, out[1]!];
  }
  if (!fastPathsEnabled() || half >= LONG_ROW) return PLAIN_OPS.splitChannelHalves(x);
  return tf.tidy(() => {
    const rows = x.size / c;
    // [rows, 2, C/2] → [2, rows, C/2]: each half is now one contiguous block.
    const front = tf.transpose(tf.reshape(x, [rows, 2, half]), [1, 0, 2]);
    const [a, b] = tf.split(front, 2, 0);
    const shape = [...x.shape.slice(0, -1), half];
    return [tf.reshape(a!, shape), tf.reshape(b!, shape)] as [tf.Tensor, tf.Tensor];
  });
}

/** `concat([a, b], lastAxis)` for two tensors of the same shape. */
export function concatChannelHalves(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank < 1 || !tf.util.arraysEqual(a.shape, b.shape)) {
    return PLAIN_OPS.concatChannelHalves(a, b); // which reports the mismatch
  }
  const half = a.shape[a.rank - 1]!;
  if (simdKernelsAvailable() && a.dtype === 'float32' && b.dtype === 'float32') {
    const out = customGradMulti([a, b], () => ({
      values: [joinHalvesKernel(a, b)],
      gradFunc: ([dy]) => splitHalvesKernel(dy!),
    }));
    if (out) return out[0]!;
  }
  if (!fastPathsEnabled() || half >= LONG_ROW) return PLAIN_OPS.concatChannelHalves(a, b);
  return tf.tidy(() => {
    const rows = a.size / half;
    const stacked = tf.concat([tf.reshape(a, [1, rows, half]), tf.reshape(b, [1, rows, half])], 0);
    const joined = tf.transpose(stacked, [1, 0, 2]);
    return tf.reshape(joined, [...a.shape.slice(0, -1), 2 * half]);
  });
}

/**
 * Even and odd channels of the last axis: `[x[..., 0::2], x[..., 1::2]]` (the coupling's
 * shift / raw-scale split, spec 3.3c). Always through a transpose on the fast path: the stock
 * alternative (reshape to `[..., C/2, 2]` and split the new last axis) is the slow rank-5 case.
 */
export function deinterleaveChannels(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const c = evenLastAxis(x);
  if (c === null || !fastPathsEnabled()) return PLAIN_OPS.deinterleaveChannels(x);
  const half = c / 2;
  return tf.tidy(() => {
    const shape = [...x.shape.slice(0, -1), half];
    const rows = x.size / c;
    // [rows, C/2, 2] → [2, rows, C/2]: even channels first, then odd, each contiguous.
    const front = tf.transpose(tf.reshape(x, [rows, half, 2]), [2, 0, 1]);
    const [even, odd] = tf.split(front, 2, 0);
    return [tf.reshape(even!, shape), tf.reshape(odd!, shape)] as [tf.Tensor, tf.Tensor];
  });
}

/** The size of the last axis when it exists and is even, else null. */
function evenLastAxis(x: tf.Tensor): number | null {
  const c = x.rank < 1 ? 1 : x.shape[x.rank - 1]!;
  return c % 2 === 0 ? c : null;
}
