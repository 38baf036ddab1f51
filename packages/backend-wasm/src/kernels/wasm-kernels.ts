import * as tf from '@tensorflow/tfjs-core';
import { fastPathsEnabled } from '../fast-paths.js';
import { type BinaryOp, broadcastBinary, SMALL_ELEMENTWISE } from './small-elementwise.js';
import type { WasmBackend } from './wasm-backend.js';

/**
 * Replacements for kernels of tfjs-backend-wasm 4.22 that do far more work than they need to
 * (data movement) or cost more to dispatch than to compute (arithmetic on small tensors). They
 * compute what the stock kernels compute, bit for bit (the tests compare them), and defer to the
 * stock kernels when hierglow's fast paths are off (see `setFastPaths`), for other dtypes, or
 * for tensors above their size bounds.
 *
 * - `Identity` (what `tf.clone` runs, and what a gradient tape runs on every tensor it saves for
 *   the backward pass) copies the data; the cpu backend shares it, which is safe because tensor
 *   data is never written in place. Sharing removes a copy of every saved activation: time, and
 *   memory during training.
 * - `Slice` reads its input through `readSync`, which copies the WHOLE input out of the wasm
 *   heap for every slice; `SplitV` runs one Slice per piece, so splitting a vector into n pieces
 *   copied it n times. Ours reads through a heap view.
 * - `Reverse` computes an index per value (slow for the conv filters the input gradient flips);
 *   ours copies rows.
 * - `BatchMatMul` of tiny float32 matrices runs in JavaScript (see `tinyMatMul`).
 * - `Multiply`, `Add`, `Sub`, `RealDiv`, `Neg`, `Abs` on small float32 tensors run in JavaScript
 *   instead of waking the XNNPACK thread pool (see small-elementwise.ts); larger ones, and other
 *   dtypes, go to the stock kernels.
 */

type KernelArgs = Parameters<tf.KernelFunc>[0];

let installed = false;

/**
 * Registers the replacements for the wasm backend (once; later calls do nothing).
 *
 * @param poolThreads the wasm backend's thread count once it runs; the small-tensor arithmetic
 *   only pays with a pool to avoid waking (with one thread the stock kernels are as fast).
 */
export function installWasmKernels(poolThreads: () => number): void {
  if (installed) return;
  const names = [
    'Identity',
    'Slice',
    'SplitV',
    'Reverse',
    'Multiply',
    'Add',
    'Sub',
    'RealDiv',
    'Neg',
    'Abs',
    'BatchMatMul',
  ];
  const stock = Object.fromEntries(names.map((n) => [n, tf.getKernel(n, 'wasm')]));
  if (names.some((n) => !stock[n])) return; // not loaded yet: nothing to replace
  installed = true;
  /** Registers `ours` for the kernel; it returns null to hand a call to the stock kernel. */
  const replaceWhen = (
    name: string,
    ours: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] | null,
  ) => {
    const config = stock[name]!;
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      ...config,
      kernelFunc: (args) => (fastPathsEnabled() ? ours(args) : null) ?? config.kernelFunc(args),
    });
  };
  const replace = (
    config: tf.KernelConfig,
    ours: (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[],
  ) =>
    replaceWhen(config.kernelName, (args) => {
      const x = (args.inputs as { x: tf.TensorInfo }).x;
      return x.dtype === 'string' ? null : ours(args);
    });
  let threaded: boolean | null = null; // known once the backend has started
  const pooled = () => {
    threaded ??= poolThreads() > 1;
    return threaded;
  };
  const binary = (name: string, op: BinaryOp) =>
    replaceWhen(name, ({ inputs, backend }) => {
      const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
      if (!pooled() || a.dtype !== 'float32' || b.dtype !== 'float32') return null;
      const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const size = tf.util.sizeFromShape(shape);
      if (size === 0 || size > SMALL_ELEMENTWISE) return null;
      const wasm = backend as unknown as WasmBackend;
      const out = wasm.makeOutput(shape, 'float32');
      const av = wasm.typedArrayFromHeap(a);
      const bv = wasm.typedArrayFromHeap(b);
      broadcastBinary(av, a.shape, bv, b.shape, wasm.typedArrayFromHeap(out), shape, op);
      return out;
    });
  binary('Multiply', (a, b) => a * b);
  binary('Add', (a, b) => a + b);
  binary('Sub', (a, b) => a - b);
  binary('RealDiv', (a, b) => a / b);
  const unary = (name: string, op: (v: number) => number) =>
    replaceWhen(name, ({ inputs, backend }) => {
      const x = (inputs as { x: tf.TensorInfo }).x;
      const size = tf.util.sizeFromShape(x.shape);
      if (!pooled() || x.dtype !== 'float32' || size === 0 || size > SMALL_ELEMENTWISE) {
        return null;
      }
      const wasm = backend as unknown as WasmBackend;
      const out = wasm.makeOutput(x.shape, 'float32');
      const xv = wasm.typedArrayFromHeap(x);
      const ov = wasm.typedArrayFromHeap(out);
      for (let i = 0; i < size; i++) ov[i] = op(xv[i]!);
      return out;
    });
  unary('Neg', (v) => -v);
  unary('Abs', Math.abs);
  replaceWhen('BatchMatMul', ({ inputs, backend, attrs }) => {
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = attrs as unknown as {
      transposeA: boolean;
      transposeB: boolean;
    };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return null;
    if (tf.util.sizeFromShape(a.shape.slice(0, -2)) !== 1) return null;
    if (tf.util.sizeFromShape(b.shape.slice(0, -2)) !== 1) return null;
    const [ar, ac] = a.shape.slice(-2) as [number, number];
    const [br, bc] = b.shape.slice(-2) as [number, number];
    const [m, k] = transposeA ? [ac, ar] : [ar, ac];
    const n = transposeB ? br : bc;
    if (m * n > SMALL_ELEMENTWISE || m * n * k > TINY_MATMUL_MACS) return null;
    const batch = a.shape.length > b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
    const wasm = backend as unknown as WasmBackend;
    const out = wasm.makeOutput([...batch, m, n], 'float32');
    tinyMatMul(
      wasm.typedArrayFromHeap(a) as Float32Array,
      wasm.typedArrayFromHeap(b) as Float32Array,
      wasm.typedArrayFromHeap(out) as Float32Array,
      { m, k, n, transposeA, transposeB },
    );
    return out;
  });
  replace(stock.Identity!, ({ inputs, backend }) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    (backend as unknown as WasmBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
  replace(stock.Slice!, ({ inputs, backend, attrs }) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    const { begin, size } = attrs as unknown as {
      begin: number | number[];
      size: number | number[];
    };
    const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
    return sliceFromHeap(backend as unknown as WasmBackend, x, b!, s!);
  });
  replace(stock.Reverse!, ({ inputs, backend, attrs }) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    const { dims } = attrs as unknown as { dims: number | number[] };
    const axes = tf.util.parseAxisParam(dims, x.shape);
    return reverseFromHeap(backend as unknown as WasmBackend, x, axes);
  });
  replace(stock.SplitV!, ({ inputs, backend, attrs }) => {
    const x = (inputs as { x: tf.TensorInfo }).x;
    const { numOrSizeSplits, axis } = attrs as unknown as {
      numOrSizeSplits: number | number[];
      axis: number;
    };
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis);
    const begin = x.shape.map(() => 0);
    return sizes.map((n) => {
      const size = [...x.shape];
      size[$axis] = n;
      const out = sliceFromHeap(backend as unknown as WasmBackend, x, [...begin], size);
      begin[$axis]! += n;
      return out;
    });
  });
}

/** Products up to this many multiply-adds run in JavaScript (microseconds at most). */
const TINY_MATMUL_MACS = 8192;

/**
 * `out = op(a) @ op(b)` for one small float32 matrix pair, summing over k in order with a
 * float32 rounding after every multiply and every add, as XNNPACK's product does.
 *
 * Why: the stock kernel creates an XNNPACK operator (packing the right-hand matrix) and
 * dispatches it to the thread pool on every call; for the `[C, C]` products a Glow step forms
 * from its LU factors (C = 4-16) that costs far more than the product itself.
 */
function tinyMatMul(
  a: Float32Array,
  b: Float32Array,
  out: Float32Array,
  dims: { m: number; k: number; n: number; transposeA: boolean; transposeB: boolean },
): void {
  const { m, k, n, transposeA, transposeB } = dims;
  // Strides of a as [m, k] and b as [k, n] whatever their stored layout.
  const [aRow, aCol] = transposeA ? [1, m] : [k, 1];
  const [bRow, bCol] = transposeB ? [1, k] : [n, 1];
  const round = Math.fround;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++)
        acc = round(acc + round(a[i * aRow + t * aCol]! * b[t * bRow + j * bCol]!));
      out[i * n + j] = acc;
    }
  }
}

/** `x[begin : begin + size]`, copied from heap views (allocate first: growth moves the heap). */
function sliceFromHeap(
  backend: WasmBackend,
  x: tf.TensorInfo,
  begin: number[],
  size: number[],
): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  if (dst.length === 0) return out;
  const strides = tf.util.computeStrides(x.shape);
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const start = tf.slice_util.computeFlatOffset(begin, strides);
    dst.set(src.subarray(start, start + dst.length));
    return out;
  }
  copyStrided(src, strides, begin, size, dst);
  return out;
}

/**
 * `x` with the given axes reversed, from heap views. The stock kernel does index arithmetic
 * for every value (and a 3x3 conv filter is reversed for every input gradient);
 * this walks the output row by row, copying a row whole when its own axis is not reversed.
 */
function reverseFromHeap(backend: WasmBackend, x: tf.TensorInfo, axes: number[]): tf.TensorInfo {
  const out = backend.makeOutput([...x.shape], x.dtype);
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const shape = x.shape.length === 0 ? [1] : x.shape;
  const rank = shape.length;
  const reversed = shape.map((_, d) => axes.includes(d));
  const strides = tf.util.computeStrides(shape);
  const inner = shape[rank - 1]!;
  const rows = dst.length / Math.max(inner, 1);
  const index = new Array<number>(rank - 1).fill(0);
  for (let r = 0, o = 0; r < rows; r++, o += inner) {
    let offset = 0;
    for (let d = 0; d < rank - 1; d++) {
      const i = reversed[d] ? shape[d]! - 1 - index[d]! : index[d]!;
      offset += i * strides[d]!;
    }
    if (reversed[rank - 1]) {
      for (let k = 0; k < inner; k++) dst[o + k] = src[offset + inner - 1 - k]!;
    } else {
      dst.set(src.subarray(offset, offset + inner), o);
    }
    for (let d = rank - 2; d >= 0; d--) {
      index[d]! += 1;
      if (index[d]! < shape[d]!) break;
      index[d] = 0;
    }
  }
  return out;
}

/** Row-by-row copy of a box of a row-major array; short rows element by element. */
function copyStrided(
  src: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> },
  strides: number[],
  begin: number[],
  size: number[],
  dst: { set(values: ArrayLike<number>, offset: number): void; [i: number]: number },
): void {
  const rank = size.length;
  const inner = size[rank - 1]!;
  const outerRank = rank - 1;
  const rows = size.slice(0, outerRank).reduce((a, n) => a * n, 1);
  const index = new Array<number>(outerRank).fill(0);
  let o = 0;
  for (let r = 0; r < rows; r++) {
    let offset = begin[outerRank]!;
    for (let d = 0; d < outerRank; d++) offset += (begin[d]! + index[d]!) * strides[d]!;
    if (inner >= 16) {
      dst.set(src.subarray(offset, offset + inner), o);
    } else {
      for (let k = 0; k < inner; k++) dst[o + k] = src[offset + k]!;
    }
    o += inner;
    for (let d = outerRank - 1; d >= 0; d--) {
      index[d]! += 1;
      if (index[d]! < size[d]!) break;
      index[d] = 0;
    }
  }
}
