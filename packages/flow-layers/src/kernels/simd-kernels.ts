import * as tf from '@tensorflow/tfjs-core';
import { fastPathsEnabled } from '../fast-paths.js';
import { SimdHelperThread } from './simd-helper-thread.js';
import { PLAIN_MEMORY_MODULE, SHARED_MEMORY_MODULE } from './simd-kernels.wasm.js';
import {
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
 * With the threaded wasm binary, products reading more than 2^18 values split their rows with
 * a helper thread of our own (simd-helper-thread.ts; `HIERGLOW_SIMD_KERNEL_THREADS=1` keeps them
 * on the calling thread); the two halves are then summed, so results differ from the one-thread
 * ones by float32 rounding.
 *
 * `HierglowNarrowProduct` is `x @ w (+ bias)` for a tiny w, without building an XNNPACK operator.
 *
 * `HierglowReluGrad` is the gradient through a ReLU from its output, one pass instead of two.
 *
 * Loading can fail (no WebAssembly SIMD, a tfjs-backend-wasm whose memory we cannot reach, or
 * `HIERGLOW_SIMD_KERNELS=0`); then the kernel is simply not used and the stock route runs.
 * `backendInfo().simdKernels` says which.
 */

export const TRANSPOSE_A_PRODUCT = 'HierglowTransposeAProduct';
export const RELU_GRAD = 'HierglowReluGrad';
export const NARROW_PRODUCT = 'HierglowNarrowProduct';

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
let reluGrad: ((dy: number, y: number, out: number, n: number) => void) | null = null;
let narrowProduct:
  | ((x: number, w: number, bias: number, out: number, m: number, k: number, n: number) => void)
  | null = null;
let helper: SimdHelperThread | null = null;
let heap: WasmMemory | null = null;
let state: { loaded: boolean; reason: string | null } | null = null;

/** Products reading fewer values than this run on one thread (a hand-off costs ~20-50 µs). */
const PARALLEL_MIN_VALUES = 1 << 18;

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
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    registerWasmKernels({
      [TRANSPOSE_A_PRODUCT]: transposeAProduct,
      [NARROW_PRODUCT]: narrowProductKernelFunc,
      [RELU_GRAD]: reluGradKernelFunc,
    });
    // Only now, with everything in place, do the ops start using them.
    atb = instance.exports.atb as AtB;
    reluGrad = instance.exports.relu_grad as typeof reluGrad;
    narrowProduct = instance.exports.narrow_product as typeof narrowProduct;
    heap = memory;
    // A second thread for large products, with the threaded (shared-memory) wasm binary only.
    if (shared && wasmThreads > 1 && process.env[SIMD_THREADS_ENV_VAR] !== '1') {
      helper = SimdHelperThread.start(memory, bytes);
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
  // Rows [0, half) here, [half, n) on the helper thread into a second output, then summed.
  const half = n >> 1;
  const part = backend.makeOutput([p + ones, q], 'float32');
  const partAt = offset(part);
  const rest = [aAt + 4 * half * p, bAt + 4 * half * q, partAt, n - half, p, q, ones] as const;
  helper.runWith(
    rest,
    () => atb!(aAt, bAt, outAt, half, p, q, ones),
    () => atb!(...rest),
  );
  const size = (p + ones) * q;
  const sum = new Float32Array(heap!.buffer, outAt, size);
  const other = new Float32Array(heap!.buffer, partAt, size);
  for (let i = 0; i < size; i++) sum[i]! += other[i]!;
  backend.disposeData(part.dataId);
  return out;
}
