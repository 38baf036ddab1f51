import { ShapeError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { fastPathsEnabled } from '../fast-paths.js';
import {
  conv2dSameAvailable,
  conv2dSameKernel,
  patchesKernel,
  reluGradKernel,
  simdKernelsAvailable,
  transposeAProductKernel,
} from '../kernels/simd-kernels.js';
import { matMulTransposeA, sumRows } from './matmul.js';
import { transpose2d } from './transpose.js';

export type ConvPadding = 'same' | 'valid';

/** Activation fused into {@link conv2dBias}. */
export type ConvActivation = 'linear' | 'relu';

/**
 * 2-D convolution (NHWC, stride 1, dilation 1, odd kernel sizes) whose input and filter
 * gradients are themselves forward convolutions or matrix products.
 *
 * Why: the wasm backend has no `Conv2DBackpropFilter` kernel, and the cpu backend's native one
 * is orders of magnitude slower than its forward convolution. Expressing the backward pass through the forward `Conv2D` and
 * `BatchMatMul` kernels (which XNNPACK accelerates on wasm) makes the gradient available on
 * every backend and fast.
 *
 * - input gradient: `dx = conv(dy, W')` with `W'` the spatially flipped filter with its in/out
 *   channels swapped, padded so the result has the input's size;
 * - filter gradient: see {@link filterGrad}.
 *
 * @param x `[batch, height, width, inChannels]`
 * @param filter `[kh, kw, inChannels, outChannels]`
 */
export function conv2d(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  padding: ConvPadding = 'same',
): tf.Tensor4D {
  checkConvArgs('conv2d', x, filter);
  const run = tf.customGrad(((xIn: tf.Tensor, wIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const xt = xIn as tf.Tensor4D;
    const wt = wIn as tf.Tensor4D;
    save([xt, wt]);
    return {
      value: ownConv(xt, wt, padding)
        ? conv2dSameKernel(xt, wt, null)
        : tf.conv2d(xt, wt, 1, padding),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const g = dy as tf.Tensor4D;
        return [inputGrad(g, ws, padding), filterGrad(xs, g, ws.shape, padding, false).filter];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return run(x, filter) as tf.Tensor4D;
}

/**
 * `activation(conv2d(x, filter) + bias)`, with {@link conv2d}'s gradients. On the fast path
 * (see `fastPathsEnabled`) the forward pass is one `FusedConv2D` kernel (bias and ReLU applied
 * by XNNPACK while the output is still in cache) and the bias gradient is a matrix product, not
 * a reduction over the batch and spatial axes; otherwise it is the three separate ops.
 *
 * @param x `[batch, height, width, inChannels]`
 * @param filter `[kh, kw, inChannels, outChannels]`
 * @param bias `[outChannels]`
 */
export function conv2dBias(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  padding: ConvPadding = 'same',
  activation: ConvActivation = 'linear',
): tf.Tensor4D {
  checkConvArgs('conv2dBias', x, filter);
  const outC = filter.shape[3];
  if (bias.rank !== 1 || bias.shape[0] !== outC) {
    throw new ShapeError(`conv2dBias: bias must have shape [${outC}], got [${bias.shape}]`);
  }
  if (!fastPathsEnabled()) {
    return tf.tidy(() => {
      const y = tf.add(conv2d(x, filter, padding), bias) as tf.Tensor4D;
      return activation === 'relu' ? (tf.relu(y) as tf.Tensor4D) : y;
    });
  }
  const run = tf.customGrad(((
    xIn: tf.Tensor,
    wIn: tf.Tensor,
    bIn: tf.Tensor,
    save: tf.GradSaveFunc,
  ) => {
    const xt = xIn as tf.Tensor4D;
    const wt = wIn as tf.Tensor4D;
    // The kernel directly: `tf.fused.conv2d` declines to fuse a ReLU while a gradient tape
    // records (and then needs Conv2DBackpropFilter, which wasm lacks); our gradient is below.
    const y = ownConv(xt, wt, padding)
      ? conv2dSameKernel(xt, wt, bIn as tf.Tensor1D, { relu: activation === 'relu' })
      : (tf.engine().runKernel('FusedConv2D', { x: xt, filter: wt, bias: bIn }, {
          strides: [1, 1],
          pad: padding,
          dataFormat: 'NHWC',
          dilations: [1, 1],
          dimRoundingMode: undefined,
          activation,
          leakyreluAlpha: 0,
        } as unknown as tf.NamedAttrMap) as tf.Tensor4D);
    save([xt, wt, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ws, ys] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        // ReLU passes the gradient where its output is positive (= where its input was).
        const g = (activation === 'relu' ? reluGrad(dy as tf.Tensor, ys) : dy) as tf.Tensor4D;
        const grads = filterGrad(xs, g, ws.shape, padding, true);
        return [inputGrad(g, ws, padding), grads.filter, grads.bias!];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return run(x, filter, bias) as tf.Tensor4D;
}

/** The gradient through a ReLU from its output y: dy where y > 0 (one kernel on wasm). */
function reluGrad(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (simdKernelsAvailable() && dy.dtype === 'float32') return reluGradKernel(dy, y);
  return tf.mul(dy, tf.step(y));
}

function checkConvArgs(who: string, x: tf.Tensor4D, filter: tf.Tensor4D): void {
  const [kh, kw, inC] = filter.shape;
  if (x.rank !== 4)
    throw new ShapeError(`${who} expects a rank-4 NHWC input, got shape [${x.shape}]`);
  if (x.shape[3] !== inC) {
    throw new ShapeError(`${who}: input has ${x.shape[3]} channels but the filter expects ${inC}`);
  }
  if (kh % 2 !== 1 || kw % 2 !== 1) {
    throw new ShapeError(`${who} supports odd kernel sizes only, got ${kh}x${kw}`);
  }
}

/**
 * Whether a convolution runs on hierglow's own SIMD kernel (`HierglowConv2DSame`): 'same'
 * padding, the kernels loaded, and output or input channels a multiple of 4 (otherwise the
 * kernel computes some channels one at a time, and the stock routes are faster).
 */
function ownConv(x: tf.Tensor4D, w: tf.Tensor4D, padding: ConvPadding, flipped = false): boolean {
  const [inC, outC] = flipped ? [w.shape[3], w.shape[2]] : [w.shape[2], w.shape[3]];
  return padding === 'same' && (outC % 4 === 0 || inC % 4 === 0) && conv2dSameAvailable(x, w);
}

function inputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, padding: ConvPadding): tf.Tensor4D {
  // The kernel turns the filter itself (no Reverse and Transpose kernels).
  if (ownConv(dy, w, padding, true)) return conv2dSameKernel(dy, w, null, { flipFilter: true });
  return tf.tidy(() => {
    const [kh, kw] = w.shape;
    // A 1x1 filter has nothing to flip (skipping saves a kernel call per gradient).
    const spatial = kh === 1 && kw === 1 ? w : tf.reverse(w, [0, 1]);
    const flipped = tf.transpose(spatial, [0, 1, 3, 2]) as tf.Tensor4D;
    if (padding === 'same' && fastPathsEnabled() && narrowOutput(flipped)) {
      return convByProductAndShifts(dy, flipped);
    }
    if (padding === 'same') return tf.conv2d(dy, flipped, 1, 'same');
    const padded = tf.pad(dy, [
      [0, 0],
      [kh - 1, kh - 1],
      [kw - 1, kw - 1],
      [0, 0],
    ]);
    return tf.conv2d(padded, flipped, 1, 'valid');
  });
}

/**
 * Whether a 'same' convolution with this filter writes so few channels (at most 2, from many)
 * that XNNPACK runs it at a fraction of its speed: its tiles are 8 output channels wide. The
 * first conv's input gradient in a grey image's coupling net is one (64 or 128 channels in, 2
 * out), faster by {@link convByProductAndShifts}; with 4 or more outputs the direct conv is as
 * fast or faster.
 */
function narrowOutput(w: tf.Tensor4D): boolean {
  const [kh, kw, inC, outC] = w.shape;
  return kh * kw > 1 && outC <= 2 && inC >= 16;
}

/**
 * `conv2d(x, w, 'same')` as a matrix product and a shift-and-add: `Z = x @ W` with W the filter
 * as `[inC, (a, b, o)]` (one column per tap and output channel, a product XNNPACK runs at full
 * width), then `y[p, o] = Σ_(a,b) Z[p + (a, b) − centre, (a, b, o)]`, itself a convolution of Z
 * with a constant 0/1 filter (exact: every product is by 1 or 0). Equal to the direct conv up
 * to float32 rounding (the sum over taps and channels is split in two).
 */
function convByProductAndShifts(x: tf.Tensor4D, w: tf.Tensor4D): tf.Tensor4D {
  const [kh, kw, inC, outC] = w.shape;
  const [b, h, wd] = x.shape;
  const columns = tf.reshape(tf.transpose(w, [2, 0, 1, 3]), [inC, kh * kw * outC]) as tf.Tensor2D;
  const z = tf.reshape(tf.matMul(tf.reshape(x, [-1, inC]) as tf.Tensor2D, columns), [
    b,
    h,
    wd,
    kh * kw * outC,
  ]) as tf.Tensor4D;
  // shifts[a, b, (a, b, o), o] = 1: each tap's columns, added at that tap's offset.
  const shifts = tf.transpose(patchFilter(kh, kw, outC), [0, 1, 3, 2]) as tf.Tensor4D;
  return tf.conv2d(z, shifts, 1, 'same');
}

/** A filter gradient, and the bias gradient when asked for. */
interface FilterGrads {
  filter: tf.Tensor4D;
  bias: tf.Tensor1D | null;
}

/**
 * `dW[a, b, i, o] = Σ_{n, h, w} x_pad[n, h + a, w + b, i] · dy[n, h, w, o]`, and with `withBias`
 * also `db[o] = Σ_{n, h, w} dy[n, h, w, o]`.
 *
 * Fast path: a matrix product `Pᵀ @ D` over every output pixel, where one side is expanded into
 * patches by a convolution with a constant 0/1 filter (exact: every product is by 1 or 0):
 * - 1x1 kernels need no patches: `xᵀ @ dy`;
 * - otherwise the side with fewer channels is expanded (a conv1 with few input channels expands
 *   x; a conv3 with few output channels expands dy), if its patches are not wider than twice the
 *   other side's channels (so building them costs no more than the product itself).
 * The bias gradient rides along as one more row or column of the same product (a row of ones
 * next to xᵀ, or a constant-1 patch channel), which costs far less than a separate reduction.
 * Otherwise (and on the reference path) a convolution on transposed tensors: batch and channel
 * axes swap roles, so the sum over (batch, h, w) becomes a convolution's inner sum. XNNPACK runs
 * that one slowly (16x16 "kernels", few output pixels).
 */
function filterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  wShape: [number, number, number, number],
  padding: ConvPadding,
  withBias: boolean,
): FilterGrads {
  const [filter, bias] = tf.tidy(() => {
    const grads = filterGradByRoute(x, dy, wShape, padding, withBias);
    return grads.bias ? [grads.filter, grads.bias] : [grads.filter];
  });
  return { filter: filter as tf.Tensor4D, bias: (bias as tf.Tensor1D | undefined) ?? null };
}

function filterGradByRoute(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  wShape: [number, number, number, number],
  padding: ConvPadding,
  withBias: boolean,
): FilterGrads {
  const cheapPatches = patchesAreCopies(x, padding);
  switch (fastPathsEnabled() ? filterGradRoute(wShape, cheapPatches) : 'transposed conv') {
    case 'matMul':
      return filterGradMatMul(x, dy, wShape, withBias);
    case 'input patches':
      return filterGradInputPatches(x, dy, wShape, padding, withBias);
    case 'output patches':
      return filterGradOutputPatches(x, dy, wShape, padding, withBias);
    case 'transposed conv':
      return {
        filter: filterGradTransposedConv(x, dy, wShape, padding),
        bias: withBias ? sumOverPixels(dy) : null,
      };
  }
}

/**
 * How the fast path computes a filter gradient, by filter shape; see {@link filterGrad}.
 * `cheapPatches`: patches come from hierglow's `HierglowPatches` kernel (a copy) rather than a
 * 0/1-filter convolution, so wider ones pay (up to 4x the other side's channels, not 2x).
 */
export function filterGradRoute(
  wShape: readonly [number, number, number, number],
  cheapPatches = false,
): 'matMul' | 'input patches' | 'output patches' | 'transposed conv' {
  const [kh, kw, inC, outC] = wShape;
  if (kh === 1 && kw === 1) return 'matMul';
  const widest = cheapPatches ? 4 : 2;
  if (kh * kw * Math.min(inC, outC) > widest * Math.max(inC, outC)) return 'transposed conv';
  return inC <= outC ? 'input patches' : 'output patches';
}

/** Σ over batch and pixels, `[B, H, W, C] → [C]`; the reference path's `tf.sum`, reshaped. */
function sumOverPixels(dy: tf.Tensor4D): tf.Tensor1D {
  if (!fastPathsEnabled()) return tf.sum(dy, [0, 1, 2]) as tf.Tensor1D;
  return sumRows(tf.reshape(dy, [-1, dy.shape[3]]) as tf.Tensor2D);
}

/**
 * `[aᵀ; 1ᵀ] @ b` for a tall `a` `[n, p]` with `p >= q`, `b` `[n, q]`: the product's first p rows
 * are `aᵀb`, its last row (with `withOnes`) the column sums of b.
 */
function productWithOnesRow(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  withOnes: boolean,
): { product: tf.Tensor2D; sums: tf.Tensor1D | null } {
  const [n, p] = a.shape;
  let full: tf.Tensor2D;
  if (simdKernelsAvailable() && a.dtype === 'float32' && b.dtype === 'float32') {
    // One pass over both matrices, the column sums as the kernel's extra row.
    full = transposeAProductKernel(a, b, withOnes);
  } else {
    let aT = transpose2d(a);
    if (withOnes) aT = tf.concat([aT, tf.ones([1, n])], 0);
    full = tf.matMul(aT, b) as tf.Tensor2D;
  }
  if (!withOnes) return { product: full, sums: null };
  const [product, sums] = tf.split(full, [p, 1], 0) as [tf.Tensor2D, tf.Tensor2D];
  return { product, sums: tf.reshape(sums, [b.shape[1]]) as tf.Tensor1D };
}

function filterGradMatMul(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  wShape: [number, number, number, number],
  withBias: boolean,
): FilterGrads {
  const [, , inC, outC] = wShape;
  const x2 = tf.reshape(x, [-1, inC]) as tf.Tensor2D;
  const g2 = tf.reshape(dy, [-1, outC]) as tf.Tensor2D;
  if (inC >= outC) {
    const { product, sums } = productWithOnesRow(x2, g2, withBias);
    return { filter: tf.reshape(product, wShape) as tf.Tensor4D, bias: sums };
  }
  return {
    filter: tf.reshape(matMulTransposeA(x2, g2), wShape) as tf.Tensor4D,
    bias: withBias ? sumRows(g2) : null,
  };
}

/**
 * Whether patches of `t` come from hierglow's `HierglowPatches` kernel (a copy, 'same' padding,
 * wasm) rather than from a convolution with a 0/1 filter.
 */
function patchesAreCopies(t: tf.Tensor, padding: ConvPadding): boolean {
  return padding === 'same' && simdKernelsAvailable() && t.dtype === 'float32';
}

/** `[kh, kw, c, kh·kw·c]` with a 1 at `[a, b, i, (a·kw + b)·c + i]`: a conv with it makes patches. */
function patchFilter(kh: number, kw: number, c: number): tf.Tensor4D {
  return tf.reshape(tf.eye(kh * kw * c), [kh, kw, c, kh * kw * c]) as tf.Tensor4D;
}

/**
 * Patches of x, `P[n, (a, b, i)] = x_pad[n + (a, b), i]`, then `dW = Pᵀ @ dy`. With `withBias`
 * the patches get one more channel that is constant 1 (a zero filter column with bias 1), so
 * the same product also gives `db = 1ᵀ @ dy`.
 */
function filterGradInputPatches(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  wShape: [number, number, number, number],
  padding: ConvPadding,
  withBias: boolean,
): FilterGrads {
  const [kh, kw, inC, outC] = wShape;
  const width = kh * kw * inC;
  let patches: tf.Tensor;
  if (patchesAreCopies(x, padding)) {
    patches = patchesKernel(x, kh, kw, { ones: withBias });
  } else if (withBias) {
    const filter = tf.concat([patchFilter(kh, kw, inC), tf.zeros([kh, kw, inC, 1])], 3);
    const bias = tf.concat([tf.zeros([width]), tf.ones([1])]);
    patches = tf.fused.conv2d({ x, filter: filter as tf.Tensor4D, strides: 1, pad: padding, bias });
  } else {
    patches = tf.conv2d(x, patchFilter(kh, kw, inC), 1, padding);
  }
  const g = matMulTransposeA(
    tf.reshape(patches, [-1, patches.shape[patches.rank - 1]!]) as tf.Tensor2D,
    tf.reshape(dy, [-1, outC]) as tf.Tensor2D,
  );
  if (!withBias) return { filter: tf.reshape(g, wShape) as tf.Tensor4D, bias: null };
  const [w, b] = tf.split(g, [width, 1], 0);
  return {
    filter: tf.reshape(w!, wShape) as tf.Tensor4D,
    bias: tf.reshape(b!, [outC]) as tf.Tensor1D,
  };
}

/**
 * Patches of dy at x's pixels, `Q[m, (a, b, o)] = dy[m − (a, b) + pad, o]` (zero outside), from a
 * conv with the spatially flipped patch filter; then `dW[i, (a, b, o)] = xᵀ @ Q`. The column
 * sums of Q's centre tap are the sums of dy over every pixel (each tap's are), so a row of ones
 * under xᵀ gives the bias gradient.
 */
function filterGradOutputPatches(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  wShape: [number, number, number, number],
  padding: ConvPadding,
  withBias: boolean,
): FilterGrads {
  const [kh, kw, inC, outC] = wShape;
  const flipped = () => tf.reverse(patchFilter(kh, kw, outC), [0, 1]) as tf.Tensor4D;
  const q = patchesAreCopies(dy, padding)
    ? patchesKernel(dy, kh, kw, { flip: true })
    : padding === 'same'
      ? tf.conv2d(dy, flipped(), 1, 'same')
      : tf.conv2d(
          tf.pad(dy, [
            [0, 0],
            [kh - 1, kh - 1],
            [kw - 1, kw - 1],
            [0, 0],
          ]),
          flipped(),
          1,
          'valid',
        );
  const x2 = tf.reshape(x, [-1, inC]) as tf.Tensor2D;
  const q2 = tf.reshape(q, [-1, kh * kw * outC]) as tf.Tensor2D;
  const toFilter = (g: tf.Tensor) =>
    tf.transpose(tf.reshape(g, [inC, kh, kw, outC]), [1, 2, 0, 3]) as tf.Tensor4D;
  if (inC < kh * kw * outC) {
    return {
      filter: toFilter(matMulTransposeA(x2, q2)),
      bias: withBias ? sumOverPixels(dy) : null,
    };
  }
  const { product, sums } = productWithOnesRow(x2, q2, withBias);
  if (!sums) return { filter: toFilter(product), bias: null };
  const centre = ((kh - 1) / 2) * kw + (kw - 1) / 2;
  return {
    filter: toFilter(product),
    bias: tf.slice(sums, [centre * outC], [outC]) as tf.Tensor1D,
  };
}

function filterGradTransposedConv(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  wShape: [number, number, number, number],
  padding: ConvPadding,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = wShape;
    const ph = padding === 'same' ? (kh - 1) / 2 : 0;
    const pw = padding === 'same' ? (kw - 1) / 2 : 0;
    const xp =
      ph === 0 && pw === 0
        ? x
        : tf.pad(x, [
            [0, 0],
            [ph, ph],
            [pw, pw],
            [0, 0],
          ]);
    // [inC, Hp, Wp, batch] convolved with [H, W, batch, outC] gives [inC, kh, kw, outC].
    const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D;
    const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    const g = tf.conv2d(xT, dyT, 1, 'valid');
    return tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}
