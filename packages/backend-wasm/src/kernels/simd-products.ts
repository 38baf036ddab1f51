import * as tf from '@tensorflow/tfjs-core';
import { heapOffset, simd, simdHelper, simdKernelsAvailable } from './simd-module.js';
import type { WasmKernelArgs } from './wasm-backend.js';

/**
 * Matrix products on hierglow's SIMD kernels.
 *
 * `HierglowTransposeAProduct` computes `aᵀ b` for two tall matrices `a` `[n, p]` and `b` `[n, q]`
 * (with `withColumnSums`, one more row: the column sums of b), a filter gradient summed over
 * every pixel of a batch. The stock route (transpose a, then XNNPACK's product, which packs the
 * fresh right-hand operand on every call) is several times slower on two threads than this
 * kernel on one: it reads both matrices in place (bench/README.md), and sums in the
 * same order as XNNPACK's product (the results are bit-identical in the tests).
 *
 * With the threaded wasm binary, products reading more than 2^18 values are shared with the
 * helper thread (simd-helper-thread.ts; `HIERGLOW_SIMD_KERNEL_THREADS=1` keeps them on the
 * calling thread): in 16 fixed chunks of input rows, each into its own partial product summed in
 * order (the result does not depend on which thread took which chunk, and differs from the
 * one-thread result by float32 rounding), or, for outputs too large for partial products, by
 * output rows (bit-identical to one thread).
 *
 * `HierglowNarrowProduct` is `x @ w (+ bias)` for a tiny w, without building an XNNPACK operator.
 */

export const TRANSPOSE_A_PRODUCT = 'HierglowTransposeAProduct';
export const NARROW_PRODUCT = 'HierglowNarrowProduct';

/** Widest `k` and `n` {@link narrowProductKernel} takes (beyond them XNNPACK's product pays). */
export const NARROW_PRODUCT_MAX = 16;

/** Products reading fewer values than this run on one thread (a hand-off costs more). */
const PARALLEL_MIN_VALUES = 1 << 18;

/**
 * Products whose output has more values than this share output rows instead of input rows
 * between the threads: 16 partial products of a 512x512 output would be 16 MB to write and sum.
 */
const PARTIALS_MAX_VALUES = 1 << 16;

/** Chunks of a shared product (fixed, so its sum order never depends on the threads). */
const PRODUCT_CHUNKS = 16;

/**
 * `aᵀ b` (`[p, q]`), or with `withColumnSums` `[aᵀ b; 1ᵀ b]` (`[p + 1, q]`), for float32 `a`
 * `[n, p]` and `b` `[n, q]`, through the SIMD kernel. Not differentiable (meant for gradient
 * functions); check {@link simdKernelsAvailable} first.
 */
export function transposeAProductKernel(
  a: tf.Tensor2D,
  b: tf.Tensor2D,
  withColumnSums: boolean,
): tf.Tensor2D {
  return tf.engine().runKernel(TRANSPOSE_A_PRODUCT, { a, b }, {
    withColumnSums,
  } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}

/**
 * Whether {@link narrowProductKernel} can run `[m, k] @ [k, n]` now (the kernels loaded, wasm
 * active, fast paths on, k and n at most {@link NARROW_PRODUCT_MAX}).
 */
export function narrowProductAvailable(k: number, n: number): boolean {
  return simdKernelsAvailable() && k <= NARROW_PRODUCT_MAX && n <= NARROW_PRODUCT_MAX;
}

/**
 * `x @ w (+ bias)` for a tall float32 `x` `[m, k]` and a tiny `w` `[k, n]`, one pass over x
 * (XNNPACK creates an operator for every fresh weight matrix, far dearer than the product). Sums in
 * the order XNNPACK's product does. Not differentiable; check {@link narrowProductAvailable}.
 */
export function narrowProductKernel(
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  bias: tf.Tensor1D | null,
): tf.Tensor2D {
  const inputs: tf.NamedTensorMap = bias ? { x, w, bias } : { x, w };
  return tf.engine().runKernel(NARROW_PRODUCT, inputs) as tf.Tensor2D;
}

function narrowProductKernelFunc(args: WasmKernelArgs): tf.TensorInfo {
  const { inputs, backend } = args;
  const { x, w, bias } = inputs as { x: tf.TensorInfo; w: tf.TensorInfo; bias?: tf.TensorInfo };
  const [m, k] = x.shape as [number, number];
  const n = w.shape[1]!;
  const ok =
    x.shape.length === 2 &&
    w.shape.length === 2 &&
    w.shape[0] === k &&
    (!bias || (bias.shape.length === 1 && bias.shape[0] === n)) &&
    [x, w, bias].every((t) => !t || t.dtype === 'float32');
  if (!ok) {
    throw new Error(
      `${NARROW_PRODUCT}: needs float32 [m, k] @ [k, n] (+ [n]), got [${x.shape}] @ [${w.shape}]` +
        (bias ? ` + [${bias.shape}]` : ''),
    );
  }
  const out = backend.makeOutput([m, n], 'float32');
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  simd().narrow_product(offset(x), offset(w), bias ? offset(bias) : 0, offset(out), m, k, n);
  return out;
}

function transposeAProduct(args: WasmKernelArgs<{ withColumnSums: boolean }>): tf.TensorInfo {
  const { inputs, attrs, backend } = args;
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const [n, p] = a.shape as [number, number];
  const q = b.shape[1]!;
  if (a.shape.length !== 2 || b.shape.length !== 2 || b.shape[0] !== n) {
    throw new Error(`${TRANSPOSE_A_PRODUCT}: cannot multiply [${a.shape}]ᵀ by [${b.shape}]`);
  }
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`${TRANSPOSE_A_PRODUCT} supports float32 only`);
  }
  const ones = attrs.withColumnSums ? 1 : 0;
  const out = backend.makeOutput([p + ones, q], 'float32');
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  const [aAt, bAt, outAt] = [offset(a), offset(b), offset(out)];
  const helper = simdHelper();
  if (!helper || n < 2 || n * (p + q) < PARALLEL_MIN_VALUES) {
    simd().atb(aAt, bAt, outAt, n, p, q, ones);
    return out;
  }
  const size = (p + ones) * q;
  if (size > PARTIALS_MAX_VALUES && p + ones >= 8) {
    // Output rows (multiples of 4, the kernel's tiles) shared with the helper thread, each summed
    // over every input row in order: bit-identical to one thread.
    helper.runChunked(
      {
        name: 'atb_out_rows',
        args: [aAt, bAt, outAt, 0, 0, n, p, q, ones],
        rangeArg: 3,
        total: p + ones,
        chunk: 4 * Math.ceil((p + ones) / (4 * PRODUCT_CHUNKS)),
        outArg: -1,
        outStride: 0,
      },
      simd().atb_out_rows,
    );
    return out;
  }
  // Fixed chunks of input rows, each into its own partial product, shared with the helper
  // thread; then the partials summed in order.
  const partials = backend.makeOutput([PRODUCT_CHUNKS * size], 'float32');
  helper.runChunked(
    {
      name: 'atb_rows',
      args: [aAt, bAt, offset(partials), 0, 0, p, q, ones],
      rangeArg: 3,
      total: n,
      chunk: Math.ceil(n / PRODUCT_CHUNKS),
      outArg: 2,
      outStride: 4 * size,
    },
    simd().atb_rows,
  );
  const chunks = Math.ceil(n / Math.ceil(n / PRODUCT_CHUNKS));
  simd().sum_partials(outAt, offset(partials), chunks, size);
  backend.disposeData(partials.dataId);
  return out;
}

/** The kernels of this module, by name, for registration. */
export const PRODUCT_KERNELS = {
  [TRANSPOSE_A_PRODUCT]: transposeAProduct,
  [NARROW_PRODUCT]: narrowProductKernelFunc,
};
