import * as tf from '@tensorflow/tfjs-core';
import { heapOffset, simd, simdHelper, simdKernelsAvailable } from './simd-module.js';
import { heapF32, type WasmKernelArgs } from './wasm-backend.js';

/**
 * Convolutions on hierglow's SIMD kernels (ADR 0004).
 *
 * `HierglowConv2DSame` is a stride-1 'same' convolution with bias and ReLU, or with the filter
 * turned for an input gradient, shared with the helper thread by output rows or, for few rows,
 * by output channels (bit-identical to one thread). It replaced XNNPACK for every convolution
 * of a Glow step: a thread of it matches XNNPACK's wasm kernels, and it does not
 * build an operator per fresh filter, reverse and transpose filters in separate kernels, or
 * wake a spinning pool.
 *
 * `HierglowPatches` lays out each pixel's neighbourhood as one row (a copy), the left operand of
 * a filter gradient's `aᵀb`.
 */

export const CONV2D_SAME = 'HierglowConv2DSame';
export const PATCHES = 'HierglowPatches';

/** Convolutions with fewer multiply-adds than this run on one thread (a hand-off costs more). */
const PARALLEL_MIN_MULTIPLY_ADDS = 1 << 20;

/**
 * Convolutions with fewer input channels than this read a zero-padded copy of their input
 * (a copy of a few hundred KB, cheaper than the per-tap bounds checks it saves).
 */
const PADDED_BELOW_CHANNELS = 32;

/** Chunks of a shared convolution's rows (each writes its own rows: any number is exact). */
const CONV_CHUNKS = 64;

/** Options of {@link conv2dSameKernel}. */
export interface Conv2dSameOptions {
  /** Apply a ReLU to the result. */
  relu?: boolean;
  /**
   * Convolve with the filter turned for an input gradient (taps reversed, in and out channels
   * swapped): `x` then has the filter's out channels and the result its in channels.
   */
  flipFilter?: boolean;
}

/**
 * Whether {@link conv2dSameKernel} can run this convolution now: the kernels loaded (wasm active,
 * fast paths on), float32, odd kernel sizes. (It runs any channel counts, but fast only when
 * the output channels are a multiple of 4 or the input channels are: see csrc.)
 */
export function conv2dSameAvailable(x: tf.Tensor, filter: tf.Tensor): boolean {
  const [kh, kw] = filter.shape as number[];
  return (
    simdKernelsAvailable() &&
    x.dtype === 'float32' &&
    filter.dtype === 'float32' &&
    x.rank === 4 &&
    filter.rank === 4 &&
    kh! % 2 === 1 &&
    kw! % 2 === 1
  );
}

/**
 * The stride-1 'same' convolution of NHWC `x` with `filter` `[kh, kw, in, out]` (+ `bias`
 * `[out]`, then ReLU if asked), by hierglow's SIMD kernel: no XNNPACK operator per fresh filter,
 * and large calls split their rows with the helper thread (results identical to one thread's).
 * Not differentiable; check {@link conv2dSameAvailable} first.
 */
export function conv2dSameKernel(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D | null,
  options: Conv2dSameOptions = {},
): tf.Tensor4D {
  const inputs: tf.NamedTensorMap = bias ? { x, filter, bias } : { x, filter };
  return tf.engine().runKernel(CONV2D_SAME, inputs, {
    relu: options.relu ?? false,
    flipFilter: options.flipFilter ?? false,
  } as unknown as tf.NamedAttrMap) as tf.Tensor4D;
}

function convSameKernelFunc(
  args: WasmKernelArgs<{ relu: boolean; flipFilter: boolean }>,
): tf.TensorInfo {
  const { inputs, attrs, backend } = args;
  const { x, filter, bias } = inputs as {
    x: tf.TensorInfo;
    filter: tf.TensorInfo;
    bias?: tf.TensorInfo;
  };
  const [kh, kw, fIn, fOut] = filter.shape as [number, number, number, number];
  const [c, o] = attrs.flipFilter ? [fOut, fIn] : [fIn, fOut];
  const ok =
    x.shape.length === 4 &&
    filter.shape.length === 4 &&
    x.shape[3] === c &&
    kh % 2 === 1 &&
    kw % 2 === 1 &&
    (!bias || (bias.shape.length === 1 && bias.shape[0] === o)) &&
    [x, filter, bias].every((t) => !t || t.dtype === 'float32');
  if (!ok) {
    throw new Error(
      `${CONV2D_SAME}: needs float32 NHWC x with ${c} channels and a [odd, odd, in, out] filter` +
        `${attrs.flipFilter ? ' (flipped)' : ''}, got [${x.shape}] and [${filter.shape}]`,
    );
  }
  const [n, h, w] = x.shape as [number, number, number, number];
  const out = backend.makeOutput([n, h, w, o], 'float32');
  const zeros = backend.makeOutput([c], 'float32');
  heapF32(backend, zeros).fill(0);
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  const scratch: tf.TensorInfo[] = [];
  const arranged = (flip: boolean, swap: boolean) => {
    const t = backend.makeOutput([kh * kw * fIn * fOut], 'float32');
    scratch.push(t);
    simd().arrange_filter(offset(filter), offset(t), kh, kw, fIn, fOut, flip ? 1 : 0, swap ? 1 : 0);
    return offset(t);
  };
  // An input gradient reading many channels over few pixels runs every output channel on the
  // tiles vectorised over input channels: they read the filter with only its taps reversed,
  // where the broadcasting tiles would need each tap's matrix transposed too (see csrc).
  // Worth it on small images only: these tiles run slower than the broadcasting ones, and
  // the transpose costs about as much as a few hundred pixels' multiply-adds.
  const vectorisedOnly =
    attrs.flipFilter && c >= PADDED_BELOW_CHANNELS && c % 4 === 0 && n * h * w < 512;
  // The filter as [kh, kw, c, o] for the broadcasting tiles: turned (taps reversed, channels
  // swapped) for an input gradient.
  let wAt = 0;
  if (!vectorisedOnly) wAt = attrs.flipFilter ? arranged(true, true) : offset(filter);
  // As [kh, kw, o, c] for the tiles vectorised over input channels (see csrc).
  const wtAt =
    vectorisedOnly || (o % 8 !== 0 && c % 4 === 0)
      ? arranged(attrs.flipFilter, !attrs.flipFilter)
      : 0;
  // Zero-padded input for few input channels, where per-tap work would dominate (see csrc).
  let xpAt = 0;
  if (!vectorisedOnly && kh * kw > 1 && c < PADDED_BELOW_CHANNELS && o >= 8) {
    const [ph, pw] = [(kh - 1) / 2, (kw - 1) / 2];
    const xp = backend.makeOutput([n * (h + 2 * ph) * (w + 2 * pw) * c + 3 * c], 'float32');
    scratch.push(xp);
    xpAt = offset(xp);
    simd().pad_images(offset(x), xpAt, n, h, w, c, ph, pw);
  }
  const args0 = [offset(x), wAt, wtAt, xpAt, bias ? offset(bias) : 0, offset(zeros)];
  const rows = n * h;
  // Channel units: blocks of 8 output channels and one more for the rest, or with only the
  // vectorised tiles blocks of 4 (see csrc).
  const units = vectorisedOnly ? Math.ceil(o / 4) : (o >> 3) + (o % 8 === 0 ? 0 : 1);
  const tail = [h, w, c, o, kh, kw, attrs.relu ? 1 : 0];
  const call = [...args0, offset(out), 0, rows, 0, units, ...tail];
  const run = simd().conv2d_same;
  const helper = simdHelper();
  if (!helper || rows * w * kh * kw * c * o < PARALLEL_MIN_MULTIPLY_ADDS) {
    run(...call);
  } else if (rows >= CONV_CHUNKS || units < 8) {
    // Chunks of output rows shared with the helper thread: disjoint parts of one output.
    helper.runChunked(
      {
        name: 'conv2d_same',
        args: call,
        rangeArg: 7,
        total: rows,
        chunk: Math.ceil(rows / CONV_CHUNKS),
        outArg: -1,
        outStride: 0,
      },
      run,
    );
  } else {
    // Few rows (small images, small batches): share channel units instead, so each thread
    // reads each filter column once rather than once per row.
    helper.runChunked(
      {
        name: 'conv2d_same',
        args: call,
        rangeArg: 9,
        total: units,
        chunk: 1,
        outArg: -1,
        outStride: 0,
      },
      run,
    );
  }
  backend.disposeData(zeros.dataId);
  for (const t of scratch) backend.disposeData(t.dataId);
  return out;
}

/** Options of {@link patchesKernel}. */
export interface PatchesOptions {
  /** Taps at `−(a − ph, b − pw)` instead of `+(a − ph, b − pw)` (patches of an output gradient). */
  flip?: boolean;
  /** Append a column of ones (a bias gradient from the same product). */
  ones?: boolean;
}

/**
 * `[N·H·W, kh·kw·C (+1)]`: each pixel's kh x kw neighbourhood of NHWC `x` ('same' padding, zero
 * outside), tap by tap, then a 1 if asked. Exact (a copy), the left operand of a filter
 * gradient. Not differentiable; check {@link simdKernelsAvailable} and float32 first.
 */
export function patchesKernel(
  x: tf.Tensor4D,
  kh: number,
  kw: number,
  options: PatchesOptions = {},
): tf.Tensor2D {
  return tf.engine().runKernel(PATCHES, { x }, {
    kh,
    kw,
    flip: options.flip ?? false,
    ones: options.ones ?? false,
  } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

function patchesKernelFunc(
  args: WasmKernelArgs<{ kh: number; kw: number; flip: boolean; ones: boolean }>,
): tf.TensorInfo {
  const { inputs, attrs, backend } = args;
  const { x } = inputs as { x: tf.TensorInfo };
  const { kh, kw } = attrs;
  if (x.shape.length !== 4 || x.dtype !== 'float32' || kh % 2 !== 1 || kw % 2 !== 1) {
    throw new Error(
      `${PATCHES}: needs a float32 NHWC tensor and odd kernel sizes, got [${x.shape}] ${kh}x${kw}`,
    );
  }
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const ones = attrs.ones ? 1 : 0;
  const out = backend.makeOutput([n * h * w, kh * kw * c + ones], 'float32');
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  simd().patches(offset(x), offset(out), n, h, w, c, kh, kw, attrs.flip ? 1 : 0, ones);
  return out;
}

/** The kernels of this module, by name, for registration. */
export const CONVOLUTION_KERNELS = {
  [CONV2D_SAME]: convSameKernelFunc,
  [PATCHES]: patchesKernelFunc,
};
