import * as tf from '@tensorflow/tfjs-core';
import { fastPathsEnabled } from '../fast-paths.js';
import { SimdHelperThread } from './simd-helper-thread.js';
import { PLAIN_MEMORY_MODULE, SHARED_MEMORY_MODULE } from './simd-kernels.wasm.js';
import {
  heapF32,
  registerWasmKernels,
  type WasmBackend,
  type WasmKernelArgs,
  type WasmMemory,
} from './wasm-backend.js';

/**
 * hierglow's own WebAssembly SIMD kernels (csrc/simd-kernels.c), running inside tfjs-backend-wasm's
 * linear memory so they read and write tensors where they live.
 *
 * `HierglowTransposeAProduct` computes `aᵀ b` for two tall matrices `a` `[n, p]` and `b` `[n, q]`
 * (with `withColumnSums`, one more row: the column sums of b), a filter gradient summed over
 * every pixel of a batch. The stock route (transpose a, then XNNPACK's product, which packs the
 * fresh right-hand operand on every call) ran at 15-20 GFLOP/s on two threads in a Glow training
 * step; this kernel reads both matrices in place at ~50 GFLOP/s on one thread, and sums in the
 * same order as XNNPACK's product (the results are bit-identical in the tests).
 *
 * With the threaded wasm binary, products reading more than 2^18 values share their rows with
 * a helper thread of our own (simd-helper-thread.ts; `HIERGLOW_SIMD_KERNEL_THREADS=1` keeps them
 * on the calling thread) in 16 fixed chunks, each into its own partial product, summed in order:
 * the result does not depend on which thread took which chunk, and differs from the one-thread
 * result by float32 rounding.
 *
 * `HierglowNarrowProduct` is `x @ w (+ bias)` for a tiny w, without building an XNNPACK operator.
 *
 * `HierglowReluGrad` is the gradient through a ReLU from its output, one pass instead of two.
 *
 * `HierglowConv2DSame` is a stride-1 'same' convolution with bias and ReLU, or with the filter
 * turned for an input gradient, split between two threads by output rows (bit-identical to
 * one thread). It replaced XNNPACK for every convolution of a Glow step (ADR 0004): at 50-60
 * GFLOP/s a thread it matches XNNPACK's wasm kernels, and it does not build an operator per
 * fresh filter, reverse and transpose filters in separate kernels, or wake a spinning pool.
 *
 * `HierglowPatches` lays out each pixel's neighbourhood as one row (a copy), the left operand of
 * a filter gradient's `aᵀb`.
 *
 * Loading can fail (no WebAssembly SIMD, a tfjs-backend-wasm whose memory we cannot reach, or
 * `HIERGLOW_SIMD_KERNELS=0`); then the kernel is simply not used and the stock route runs.
 * `backendInfo().simdKernels` says which.
 */

export const TRANSPOSE_A_PRODUCT = 'HierglowTransposeAProduct';
export const RELU_GRAD = 'HierglowReluGrad';
export const NARROW_PRODUCT = 'HierglowNarrowProduct';
export const CONV2D_SAME = 'HierglowConv2DSame';
export const PATCHES = 'HierglowPatches';
export const ADAMAX_UPDATE = 'HierglowAdamaxUpdate';
export const SPLIT_HALVES = 'HierglowSplitHalves';
export const JOIN_HALVES = 'HierglowJoinHalves';
export const AFFINE_COUPLING = 'HierglowAffineCoupling';
export const AFFINE_COUPLING_GRAD = 'HierglowAffineCouplingGrad';
export const ALL_FINITE = 'HierglowAllFinite';

/** Widest `k` and `n` {@link narrowProductKernel} takes (beyond them XNNPACK's product pays). */
export const NARROW_PRODUCT_MAX = 16;

/** The environment variable that turns the kernels off (`0`). */
export const SIMD_KERNELS_ENV_VAR = 'HIERGLOW_SIMD_KERNELS';

/** The environment variable that keeps them on the calling thread (`1`). */
export const SIMD_THREADS_ENV_VAR = 'HIERGLOW_SIMD_KERNEL_THREADS';

/** The parts of the WebAssembly JS API used here (the package compiles without the DOM lib). */
declare const WebAssembly: {
  Memory: abstract new (...args: never[]) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

type AtB = (
  a: number,
  b: number,
  out: number,
  n: number,
  p: number,
  q: number,
  ones: number,
) => void;

let atb: AtB | null = null;
let atbRows: ((...args: number[]) => void) | null = null;
let atbOutRows: ((...args: number[]) => void) | null = null;
let sumPartials: ((out: number, partials: number, count: number, size: number) => void) | null =
  null;
let reluGrad: ((dy: number, y: number, out: number, n: number) => void) | null = null;
let narrowProduct:
  | ((x: number, w: number, bias: number, out: number, m: number, k: number, n: number) => void)
  | null = null;
type ConvSame = (
  x: number,
  w: number,
  wt: number,
  xp: number,
  bias: number,
  zeros: number,
  out: number,
  r0: number,
  r1: number,
  u0: number,
  u1: number,
  h: number,
  w_: number,
  c: number,
  o: number,
  kh: number,
  kw: number,
  relu: number,
) => void;
let convSame: ConvSame | null = null;
let arrangeFilter:
  | ((
      w: number,
      out: number,
      kh: number,
      kw: number,
      c: number,
      o: number,
      flip: number,
      swap: number,
    ) => void)
  | null = null;
let adamaxUpdate: ((...args: number[]) => void) | null = null;
let splitHalves: ((...args: number[]) => void) | null = null;
let joinHalves: ((...args: number[]) => void) | null = null;
let affineCoupling: ((...args: number[]) => void) | null = null;
let affineCouplingGrad: ((...args: number[]) => void) | null = null;
let allFinite: ((x: number, n: number) => number) | null = null;
let scaleColumns: ((...args: number[]) => void) | null = null;
let scaleColumnsGrad: ((...args: number[]) => void) | null = null;
let padImages:
  | ((
      x: number,
      xp: number,
      n: number,
      h: number,
      w: number,
      c: number,
      ph: number,
      pw: number,
    ) => void)
  | null = null;
let patches:
  | ((
      x: number,
      out: number,
      n: number,
      h: number,
      w: number,
      c: number,
      kh: number,
      kw: number,
      flip: number,
      ones: number,
    ) => void)
  | null = null;
let helper: SimdHelperThread | null = null;
let state: { loaded: boolean; reason: string | null } | null = null;

/** Products reading fewer values than this run on one thread (a hand-off costs ~20-50 µs). */
const PARALLEL_MIN_VALUES = 1 << 18;

/** Convolutions with fewer multiply-adds than this run on one thread (~40 µs of work). */
const PARALLEL_MIN_MULTIPLY_ADDS = 1 << 20;

/**
 * Convolutions with fewer input channels than this read a zero-padded copy of their input
 * (a copy of a few hundred KB, against per-tap work that made them 2x slower).
 */
const PADDED_BELOW_CHANNELS = 32;

/** The module's exports the helper thread may run. */
const HELPER_EXPORTS = ['atb_rows', 'atb_out_rows', 'conv2d_same'] as const;

/**
 * Products whose output has more values than this share output rows instead of input rows
 * between the threads: 16 partial products of a 512x512 output would be 16 MB to write and sum.
 */
const PARTIALS_MAX_VALUES = 1 << 16;

/** Chunks of a shared product (fixed, so its sum order never depends on the threads). */
const PRODUCT_CHUNKS = 16;

/** Chunks of a shared convolution's rows (each writes its own rows: any number is exact). */
const CONV_CHUNKS = 64;

/**
 * Instantiates the kernels against the active wasm backend's memory and registers them (once
 * per process; the wasm backend's memory lives as long as the process). Returns whether they
 * are available.
 */
export function installSimdKernels(wasmThreads: number): boolean {
  if (state) return state.loaded;
  try {
    if (process.env[SIMD_KERNELS_ENV_VAR] === '0') {
      throw new Error(`turned off by ${SIMD_KERNELS_ENV_VAR}=0`);
    }
    const backend = tf.findBackend('wasm') as unknown as WasmBackend | null;
    const memory = backend?.wasm.wasmMemory ?? backend?.wasm.asm?.memory;
    if (!(memory instanceof WebAssembly.Memory)) {
      throw new Error("tfjs-backend-wasm's linear memory is not reachable");
    }
    const shared =
      typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const bytes = Buffer.from(shared ? SHARED_MEMORY_MODULE : PLAIN_MEMORY_MODULE, 'base64');
    const module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    registerWasmKernels({
      [TRANSPOSE_A_PRODUCT]: transposeAProduct,
      [NARROW_PRODUCT]: narrowProductKernelFunc,
      [RELU_GRAD]: reluGradKernelFunc,
      [CONV2D_SAME]: convSameKernelFunc,
      [PATCHES]: patchesKernelFunc,
      [ADAMAX_UPDATE]: adamaxUpdateKernelFunc,
      [SPLIT_HALVES]: splitHalvesKernelFunc,
      [JOIN_HALVES]: joinHalvesKernelFunc,
      [AFFINE_COUPLING]: affineCouplingKernelFunc,
      [AFFINE_COUPLING_GRAD]: affineCouplingGradKernelFunc,
      [ALL_FINITE]: allFiniteKernelFunc,
    });
    // Only now, with everything in place, do the ops start using them.
    atb = instance.exports.atb as AtB;
    atbRows = instance.exports.atb_rows as typeof atbRows;
    atbOutRows = instance.exports.atb_out_rows as typeof atbOutRows;
    sumPartials = instance.exports.sum_partials as typeof sumPartials;
    reluGrad = instance.exports.relu_grad as typeof reluGrad;
    narrowProduct = instance.exports.narrow_product as typeof narrowProduct;
    convSame = instance.exports.conv2d_same as ConvSame;
    arrangeFilter = instance.exports.arrange_filter as typeof arrangeFilter;
    patches = instance.exports.patches as typeof patches;
    padImages = instance.exports.pad_images as typeof padImages;
    adamaxUpdate = instance.exports.adamax_update as typeof adamaxUpdate;
    splitHalves = instance.exports.split_halves as typeof splitHalves;
    joinHalves = instance.exports.join_halves as typeof joinHalves;
    affineCoupling = instance.exports.affine_coupling as typeof affineCoupling;
    affineCouplingGrad = instance.exports.affine_coupling_grad as typeof affineCouplingGrad;
    allFinite = instance.exports.all_finite as typeof allFinite;
    scaleColumns = instance.exports.scale_columns as typeof scaleColumns;
    scaleColumnsGrad = instance.exports.scale_columns_grad as typeof scaleColumnsGrad;
    // A second thread for large products, with the threaded (shared-memory) wasm binary only.
    if (shared && wasmThreads > 1 && process.env[SIMD_THREADS_ENV_VAR] !== '1') {
      helper = SimdHelperThread.start(memory, module, HELPER_EXPORTS);
    }
    state = { loaded: true, reason: null };
  } catch (e) {
    state = { loaded: false, reason: (e as Error).message };
  }
  return state.loaded;
}

/** Threads the kernels' large products use now: 2 once the helper thread runs, else 1. */
export function simdKernelThreads(): number {
  return helper?.ready ? 2 : 1;
}

/** Whether the kernels are loaded, and why not when they are not (null before any attempt). */
export function simdKernelsState(): { loaded: boolean; reason: string | null } | null {
  return state;
}

/**
 * Whether the kernels can run now (they load together): loaded, the wasm backend active and
 * the fast paths on.
 */
export function simdKernelsAvailable(): boolean {
  return atb !== null && fastPathsEnabled() && tf.getBackend() === 'wasm';
}

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
 * (XNNPACK creates an operator for every fresh weight matrix, ~0.5 ms for such shapes). Sums in
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
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  narrowProduct!(offset(x), offset(w), bias ? offset(bias) : 0, offset(out), m, k, n);
  return out;
}

/**
 * `dy` where `y > 0`, else 0: the gradient through a ReLU from its output `y`, in one pass (the
 * stock route is `dy · step(y)`, which differs only in giving −0, or NaN for a non-finite dy,
 * where y ≤ 0). Not differentiable; check {@link simdKernelsAvailable} first.
 */
export function reluGradKernel(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(RELU_GRAD, { dy, y }) as tf.Tensor;
}

function reluGradKernelFunc(args: WasmKernelArgs): tf.TensorInfo {
  const { dy, y } = args.inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const backend = args.backend;
  if (!tf.util.arraysEqual(dy.shape, y.shape) || dy.dtype !== 'float32' || y.dtype !== 'float32') {
    throw new Error(
      `${RELU_GRAD}: needs float32 tensors of one shape, got [${dy.shape}] and [${y.shape}]`,
    );
  }
  const out = backend.makeOutput([...y.shape], 'float32');
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  reluGrad!(offset(dy), offset(y), offset(out), tf.util.sizeFromShape(y.shape));
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
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  const [aAt, bAt, outAt] = [offset(a), offset(b), offset(out)];
  if (!helper?.ready || n < 2 || n * (p + q) < PARALLEL_MIN_VALUES) {
    atb!(aAt, bAt, outAt, n, p, q, ones);
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
      atbOutRows!,
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
    atbRows!,
  );
  const chunks = Math.ceil(n / Math.ceil(n / PRODUCT_CHUNKS));
  sumPartials!(outAt, offset(partials), chunks, size);
  backend.disposeData(partials.dataId);
  return out;
}

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
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  const scratch: tf.TensorInfo[] = [];
  const arranged = (flip: boolean, swap: boolean) => {
    const t = backend.makeOutput([kh * kw * fIn * fOut], 'float32');
    scratch.push(t);
    arrangeFilter!(offset(filter), offset(t), kh, kw, fIn, fOut, flip ? 1 : 0, swap ? 1 : 0);
    return offset(t);
  };
  // An input gradient reading many channels over few pixels runs every output channel on the
  // tiles vectorised over input channels: they read the filter with only its taps reversed,
  // where the broadcasting tiles would need each tap's matrix transposed too (see csrc).
  // Worth it on small images only: these tiles run ~15 % slower than the broadcasting ones, and
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
    padImages!(offset(x), xpAt, n, h, w, c, ph, pw);
  }
  const args0 = [offset(x), wAt, wtAt, xpAt, bias ? offset(bias) : 0, offset(zeros)];
  const rows = n * h;
  // Channel units: blocks of 8 output channels and one more for the rest, or with only the
  // vectorised tiles blocks of 4 (see csrc).
  const units = vectorisedOnly ? Math.ceil(o / 4) : (o >> 3) + (o % 8 === 0 ? 0 : 1);
  const tail = [h, w, c, o, kh, kw, attrs.relu ? 1 : 0];
  const call = [...args0, offset(out), 0, rows, 0, units, ...tail];
  const run = convSame as (...a: number[]) => void;
  if (!helper?.ready || rows * w * kh * kw * c * o < PARALLEL_MIN_MULTIPLY_ADDS) {
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
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  patches!(offset(x), offset(out), n, h, w, c, kh, kw, attrs.flip ? 1 : 0, ones);
  return out;
}

/** Hyper-parameters of {@link adamaxUpdateKernel}: PyTorch Adamax's, and this update's step size. */
export interface AdamaxUpdateAttrs {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** `lr / (1 − β1^t)` for this update. */
  stepSize: number;
}

/**
 * One Adamax update of many variables in one kernel call (csrc `adamax_update`, one pass per
 * variable): for each i, from θ_i, g_i and the moments m_i, u_i, the new θ_i, m_i, u_i (new
 * tensors, in that order: all θ, then all m, then all u). Float32 operation by operation in
 * the order of glow's tfjs-op update, so bit-identical to it. Not differentiable; check
 * {@link simdKernelsAvailable} first.
 */
export function adamaxUpdateKernel(
  theta: readonly tf.Tensor[],
  grads: readonly tf.Tensor[],
  m: readonly tf.Tensor[],
  u: readonly tf.Tensor[],
  attrs: AdamaxUpdateAttrs,
): { theta: tf.Tensor[]; m: tf.Tensor[]; u: tf.Tensor[] } {
  const n = theta.length;
  const inputs: tf.NamedTensorMap = {};
  for (let i = 0; i < n; i++) {
    inputs[`t${i}`] = theta[i]!;
    inputs[`g${i}`] = grads[i]!;
    inputs[`m${i}`] = m[i]!;
    inputs[`u${i}`] = u[i]!;
  }
  const out = tf.engine().runKernel(ADAMAX_UPDATE, inputs, {
    ...attrs,
    count: n,
  } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { theta: out.slice(0, n), m: out.slice(n, 2 * n), u: out.slice(2 * n) };
}

function adamaxUpdateKernelFunc(
  args: WasmKernelArgs<AdamaxUpdateAttrs & { count: number }>,
): tf.TensorInfo[] {
  const { inputs, attrs, backend } = args;
  const n = attrs.count;
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  const outs: tf.TensorInfo[][] = [[], [], []];
  for (let i = 0; i < n; i++) {
    const group = ['t', 'g', 'm', 'u'].map((k) => inputs[`${k}${i}`]!);
    const shape = group[0]!.shape;
    if (group.some((t) => t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, shape))) {
      throw new Error(`${ADAMAX_UPDATE}: variable ${i} needs float32 θ, g, m, u of one shape`);
    }
    const [t, m, u] = [0, 1, 2].map(() => backend.makeOutput([...shape], 'float32'));
    outs[0]!.push(t!);
    outs[1]!.push(m!);
    outs[2]!.push(u!);
    adamaxUpdate!(
      ...group.map(offset),
      offset(t!),
      offset(m!),
      offset(u!),
      tf.util.sizeFromShape(shape),
      attrs.beta1,
      1 - attrs.beta1,
      attrs.beta2,
      attrs.eps,
      attrs.weightDecay,
      attrs.stepSize,
    );
  }
  return outs.flat();
}

/**
 * `[x[..., :C/2], x[..., C/2:]]` for a float32 `x` with an even last axis, one pass (tfjs would
 * reshape, transpose and split). Not differentiable; check {@link simdKernelsAvailable} first.
 */
export function splitHalvesKernel(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(SPLIT_HALVES, { x }) as unknown as [tf.Tensor, tf.Tensor];
}

/** `concat([a, b], lastAxis)` for float32 tensors of one shape, one pass. See {@link splitHalvesKernel}. */
export function joinHalvesKernel(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(JOIN_HALVES, { a, b }) as tf.Tensor;
}

function splitHalvesKernelFunc({ inputs, backend }: WasmKernelArgs): tf.TensorInfo[] {
  const { x } = inputs as { x: tf.TensorInfo };
  const c = x.shape[x.shape.length - 1]!;
  if (x.dtype !== 'float32' || x.shape.length < 1 || c % 2 !== 0) {
    throw new Error(
      `${SPLIT_HALVES}: needs a float32 tensor with an even last axis, got [${x.shape}]`,
    );
  }
  const shape = [...x.shape.slice(0, -1), c / 2];
  const [a, b] = [backend.makeOutput(shape, 'float32'), backend.makeOutput(shape, 'float32')];
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  splitHalves!(offset(x), offset(a), offset(b), tf.util.sizeFromShape(x.shape) / c, c / 2);
  return [a, b];
}

function joinHalvesKernelFunc({ inputs, backend }: WasmKernelArgs): tf.TensorInfo {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !tf.util.arraysEqual(a.shape, b.shape)) {
    throw new Error(
      `${JOIN_HALVES}: needs float32 tensors of one shape, got [${a.shape}] and [${b.shape}]`,
    );
  }
  const half = a.shape[a.shape.length - 1]!;
  const x = backend.makeOutput([...a.shape.slice(0, -1), 2 * half], 'float32');
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  joinHalves!(offset(a), offset(b), offset(x), tf.util.sizeFromShape(a.shape) / half, half);
  return x;
}

/**
 * Whether {@link affineCouplingKernel} takes a half `xb` of this shape: the kernels available,
 * float32, and a multiple of 4 values per example.
 */
export function affineCouplingKernelAvailable(xb: tf.Tensor): boolean {
  return (
    simdKernelsAvailable() &&
    xb.dtype === 'float32' &&
    xb.rank >= 2 &&
    (xb.size / xb.shape[0]!) % 4 === 0
  );
}

/**
 * The affine coupling's element-wise half (see ops/affine-coupling.ts) in one pass: from the
 * half `xb` and the net output `h` (shift and raw scale interleaved), `[yb, s, u, logDet]` with
 * `s = σ(raw + 2)`, `u = xb + shift`, `yb = u·s`, `logDet[n] = Σ log s`. Its own e^x and ln x
 * (Cephes' single-precision polynomials, ~1 ulp). Not differentiable; check
 * {@link affineCouplingKernelAvailable} first.
 */
export function affineCouplingKernel(xb: tf.Tensor, h: tf.Tensor): tf.Tensor[] {
  return tf.engine().runKernel(AFFINE_COUPLING, { xb, h }) as unknown as tf.Tensor[];
}

/** Its gradient: `[∂/∂xb, ∂/∂h]` from `dyb`, `dLogDet` and the saved `s` and `u`. */
export function affineCouplingGradKernel(
  dyb: tf.Tensor,
  dLogDet: tf.Tensor,
  s: tf.Tensor,
  u: tf.Tensor,
): [tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(AFFINE_COUPLING_GRAD, { dyb, dLogDet, s, u }) as unknown as [
    tf.Tensor,
    tf.Tensor,
  ];
}

function affineCouplingKernelFunc({ inputs, backend }: WasmKernelArgs): tf.TensorInfo[] {
  const { xb, h } = inputs as { xb: tf.TensorInfo; h: tf.TensorInfo };
  const half = xb.shape[xb.shape.length - 1]!;
  const batch = xb.shape[0]!;
  const per = tf.util.sizeFromShape(xb.shape) / batch;
  const ok =
    xb.dtype === 'float32' &&
    h.dtype === 'float32' &&
    per % 4 === 0 &&
    tf.util.arraysEqual(h.shape, [...xb.shape.slice(0, -1), 2 * half]);
  if (!ok) {
    throw new Error(
      `${AFFINE_COUPLING}: needs float32 xb [batch, ..., C/2] (a multiple of 4 values per example) and h [batch, ..., C], got [${xb.shape}] and [${h.shape}]`,
    );
  }
  const outs = [0, 1, 2].map(() => backend.makeOutput([...xb.shape], 'float32'));
  const logDet = backend.makeOutput([batch], 'float32');
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  affineCoupling!(offset(xb), offset(h), ...outs.map(offset), offset(logDet), batch, per);
  return [...outs, logDet];
}

function affineCouplingGradKernelFunc({ inputs, backend }: WasmKernelArgs): tf.TensorInfo[] {
  const { dyb, dLogDet, s, u } = inputs as Record<string, tf.TensorInfo>;
  const batch = s!.shape[0]!;
  const per = tf.util.sizeFromShape(s!.shape) / batch;
  const half = s!.shape[s!.shape.length - 1]!;
  const ok =
    [dyb, dLogDet, s, u].every((t) => t!.dtype === 'float32') &&
    per % 4 === 0 &&
    [dyb, u].every((t) => tf.util.arraysEqual(t!.shape, s!.shape)) &&
    tf.util.sizeFromShape(dLogDet!.shape) === batch;
  if (!ok) throw new Error(`${AFFINE_COUPLING_GRAD}: inputs do not match the forward pass`);
  const dxb = backend.makeOutput([...s!.shape], 'float32');
  const dh = backend.makeOutput([...s!.shape.slice(0, -1), 2 * half], 'float32');
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  affineCouplingGrad!(
    offset(dyb!),
    offset(dLogDet!),
    offset(s!),
    offset(u!),
    offset(dxb),
    offset(dh),
    batch,
    per,
  );
  return [dxb, dh];
}

/**
 * The SIMD passes of ops/scale-columns.ts's JavaScript kernels, or null before the kernels load
 * (those kernels then loop in JavaScript): `scaleColumns(w, s, out, rows, c)` and
 * `scaleColumnsGrad(dw, w, s, dwOut, sums, rows, c)` on heap offsets (see csrc).
 */
export function scaleColumnsPasses(): {
  scaleColumns: (...args: number[]) => void;
  scaleColumnsGrad: (...args: number[]) => void;
} | null {
  return scaleColumns && scaleColumnsGrad ? { scaleColumns, scaleColumnsGrad } : null;
}

/**
 * Whether every value of every (float32) tensor is finite, in one kernel call that reads each
 * where it lives (no concatenation). Check {@link simdKernelsAvailable} first.
 */
export function allFiniteKernel(tensors: readonly tf.Tensor[]): boolean {
  const inputs: tf.NamedTensorMap = {};
  tensors.forEach((t, i) => {
    inputs[`t${i}`] = t;
  });
  const flag = tf.engine().runKernel(ALL_FINITE, inputs, {
    count: tensors.length,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const ok = flag.dataSync()[0] === 1;
  flag.dispose();
  return ok;
}

function allFiniteKernelFunc({
  inputs,
  attrs,
  backend,
}: WasmKernelArgs<{ count: number }>): tf.TensorInfo {
  const offset = (t: tf.TensorInfo) => backend.dataIdMap.get(t.dataId)!.memoryOffset;
  let ok = 1;
  for (let i = 0; i < attrs.count && ok; i++) {
    const t = inputs[`t${i}`]!;
    if (t.dtype !== 'float32') throw new Error(`${ALL_FINITE}: needs float32 tensors`);
    ok = allFinite!(offset(t), tf.util.sizeFromShape(t.shape));
  }
  const out = backend.makeOutput([], 'int32');
  (backend.typedArrayFromHeap(out) as Int32Array)[0] = ok;
  return out;
}
