import * as tf from '@tensorflow/tfjs-core';
import { fastPathsEnabled } from '../fast-paths.js';
import { enableRuntimeRelaxedSimd, environmentVariable } from '../node-packages.js';
import { SimdHelperThread } from './simd-helper-thread.js';
import {
  PLAIN_MEMORY_MODULE,
  PLAIN_MEMORY_RELAXED_MODULE,
  SHARED_MEMORY_MODULE,
  SHARED_MEMORY_RELAXED_MODULE,
} from './simd-kernels.wasm.js';
import type { WasmBackend, WasmMemory } from './wasm-backend.js';

/**
 * The compiled module of hierglow's SIMD kernels (csrc/simd-kernels.c), instantiated against
 * tfjs-backend-wasm's own linear memory, and its helper thread: what every kernel module
 * (simd-products.ts, simd-convolutions.ts, simd-elementwise.ts) calls into.
 */

/** The environment variable that turns the kernels off (`0`). */
export const SIMD_KERNELS_ENV_VAR = 'HIERGLOW_SIMD_KERNELS';

/** The environment variable that keeps them on the calling thread (`1`). */
export const SIMD_THREADS_ENV_VAR = 'HIERGLOW_SIMD_KERNEL_THREADS';

/**
 * The environment variable that keeps the plain SIMD128 build (`0`) where the runtime would run
 * the relaxed-SIMD one.
 */
export const RELAXED_SIMD_ENV_VAR = 'HIERGLOW_RELAXED_SIMD';

/**
 * Which build of the kernels runs: `relaxed-simd` (fused multiply-adds in the products and
 * convolutions) where the runtime validates relaxed-SIMD code, else `simd128`.
 */
export type SimdKernelsVariant = 'relaxed-simd' | 'simd128';

/** The parts of the WebAssembly JS API used here (the package compiles without the DOM lib). */
declare const WebAssembly: {
  validate: (bytes: Uint8Array) => boolean;
  Memory: abstract new (...args: never[]) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};

/** A C export: every argument a heap offset (bytes), a size or a float32 scalar. */
type Export = (...args: number[]) => number;

/** The module's exports, by their C names (see csrc/simd-kernels.c for each contract). */
export interface SimdExports {
  atb: Export;
  atb_rows: Export;
  atb_out_rows: Export;
  sum_partials: Export;
  narrow_product: Export;
  relu_grad: Export;
  conv2d_same: Export;
  arrange_filter: Export;
  pad_images: Export;
  patches: Export;
  adamax_update: Export;
  split_halves: Export;
  join_halves: Export;
  affine_coupling: Export;
  affine_coupling_grad: Export;
  affine_coupling_inverse_grad: Export;
  all_finite: Export;
  scale_columns: Export;
  scale_columns_grad: Export;
}

const EXPORT_NAMES: readonly (keyof SimdExports)[] = [
  'atb',
  'atb_rows',
  'atb_out_rows',
  'sum_partials',
  'narrow_product',
  'relu_grad',
  'conv2d_same',
  'arrange_filter',
  'pad_images',
  'patches',
  'adamax_update',
  'split_halves',
  'join_halves',
  'affine_coupling',
  'affine_coupling_grad',
  'affine_coupling_inverse_grad',
  'all_finite',
  'scale_columns',
  'scale_columns_grad',
];

/** The exports the helper thread may run (the ones large calls share). */
const HELPER_EXPORTS: readonly (keyof SimdExports)[] = ['atb_rows', 'atb_out_rows', 'conv2d_same'];

let exported: SimdExports | null = null;
let helper: SimdHelperThread | null = null;
let state: { loaded: boolean; reason: string | null; variant: SimdKernelsVariant | null } | null =
  null;

/**
 * `(func (param v128 v128 v128) (result v128) local.get 0 local.get 1 local.get 2
 * f32x4.relaxed_madd)`: valid exactly where the runtime runs relaxed SIMD (Node 20's V8 only
 * with --experimental-wasm-relaxed-simd; on by default from V8 11.4, Chrome 114, Node 22).
 */
const RELAXED_SIMD_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b,
  0x01, 0x7b, 0x03, 0x02, 0x01, 0x00, 0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20,
  0x02, 0xfd, 0x85, 0x02, 0x0b,
]);

/** Whether this runtime validates relaxed-SIMD instructions. */
export function relaxedSimdSupported(): boolean {
  try {
    return WebAssembly.validate(RELAXED_SIMD_PROBE);
  } catch {
    return false;
  }
}

/**
 * The build to load: relaxed SIMD where the runtime has it (on Node 20 after turning on V8's
 * flag for it), unless {@link RELAXED_SIMD_ENV_VAR} is `0`. On two cores the fused build
 * scores ~25 % and trains 7-13 % faster (bench/README.md, issue 17).
 */
function chooseVariant(): SimdKernelsVariant {
  if (environmentVariable(RELAXED_SIMD_ENV_VAR) === '0') return 'simd128';
  if (relaxedSimdSupported()) return 'relaxed-simd';
  return enableRuntimeRelaxedSimd() && relaxedSimdSupported() ? 'relaxed-simd' : 'simd128';
}

/**
 * Instantiates the module against the active wasm backend's memory, runs `register` (the
 * kernels' registration), and only then makes the exports available to the ops (once per
 * process; the wasm backend's memory lives as long as the process). Returns whether it loaded.
 */
export function loadSimdModule(wasmThreads: number, register: () => void): boolean {
  if (state) return state.loaded;
  let variant: SimdKernelsVariant | null = null;
  try {
    if (environmentVariable(SIMD_KERNELS_ENV_VAR) === '0') {
      throw new Error(`turned off by ${SIMD_KERNELS_ENV_VAR}=0`);
    }
    const backend = tf.findBackend('wasm') as unknown as WasmBackend | null;
    const memory = backend?.wasm.wasmMemory ?? backend?.wasm.asm?.memory;
    if (!(memory instanceof WebAssembly.Memory)) {
      throw new Error("tfjs-backend-wasm's linear memory is not reachable");
    }
    const shared =
      typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    variant = chooseVariant();
    const relaxed = variant === 'relaxed-simd';
    const bytes = decodeBase64(
      shared
        ? relaxed
          ? SHARED_MEMORY_RELAXED_MODULE
          : SHARED_MEMORY_MODULE
        : relaxed
          ? PLAIN_MEMORY_RELAXED_MODULE
          : PLAIN_MEMORY_MODULE,
    );
    const module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const exports = Object.fromEntries(
      EXPORT_NAMES.map((name) => {
        const f = instance.exports[name];
        if (typeof f !== 'function') throw new Error(`the kernel module lacks '${name}'`);
        return [name, f];
      }),
    ) as unknown as SimdExports;
    register();
    // Only now, with everything in place, do the ops start using them.
    exported = exports;
    // A second thread for large calls, with the threaded (shared-memory) wasm binary only.
    if (shared && wasmThreads > 1 && environmentVariable(SIMD_THREADS_ENV_VAR) !== '1') {
      helper = SimdHelperThread.start(memory, module, HELPER_EXPORTS);
    }
    state = { loaded: true, reason: null, variant };
  } catch (e) {
    state = { loaded: false, reason: (e as Error).message, variant: null };
  }
  return state.loaded;
}

/** Base64 to bytes with `atob`, which Node and browsers both have (`Buffer` is Node's only). */
export function decodeBase64(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** The module's exports; only call once {@link simdKernelsAvailable} (or a kernel runs). */
export function simd(): SimdExports {
  if (!exported) throw new Error("hierglow's SIMD kernels are not loaded");
  return exported;
}

/** Whether the module loaded (its exports can be called), whatever the active backend. */
export function simdModuleLoaded(): boolean {
  return exported !== null;
}

/** The helper thread when it is running, else null (large calls then run on one thread). */
export function simdHelper(): SimdHelperThread | null {
  return helper?.ready ? helper : null;
}

/** Threads the kernels' large calls use now: 2 once the helper thread runs, else 1. */
export function simdKernelThreads(): number {
  return simdHelper() ? 2 : 1;
}

/**
 * Whether the kernels are loaded, which build, and why not when they are not (null before any
 * attempt).
 */
export function simdKernelsState(): {
  loaded: boolean;
  reason: string | null;
  variant: SimdKernelsVariant | null;
} | null {
  return state;
}

/**
 * Whether the kernels can run now (they load together): loaded, the wasm backend active and
 * the fast paths on.
 */
export function simdKernelsAvailable(): boolean {
  return exported !== null && fastPathsEnabled() && tf.getBackend() === 'wasm';
}

/** Where a tensor's data starts in the wasm memory (bytes). */
export function heapOffset(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId)!.memoryOffset;
}
