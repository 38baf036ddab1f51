import { CONVOLUTION_KERNELS } from './simd-convolutions.js';
import { ELEMENTWISE_KERNELS } from './simd-elementwise.js';
import { loadSimdModule } from './simd-module.js';
import { PRODUCT_KERNELS } from './simd-products.js';
import { registerWasmKernels } from './wasm-backend.js';

/**
 * hierglow's own WebAssembly SIMD kernels (csrc/simd-kernels.c, ADRs 0003 and 0004), running
 * inside tfjs-backend-wasm's linear memory so they read and write tensors where they live:
 *
 * - simd-module.ts: the compiled module, its exports and the helper thread;
 * - simd-products.ts: `aᵀb` for filter gradients, tiny channel mixes;
 * - simd-convolutions.ts: every 'same' convolution and its input gradient, patches;
 * - simd-elementwise.ts: ReLU gradient, affine coupling, channel halves, Adamax, finite checks.
 *
 * Loading can fail (no WebAssembly SIMD, a tfjs-backend-wasm whose memory we cannot reach, or
 * `HIERGLOW_SIMD_KERNELS=0`); then no kernel is used and the stock routes run.
 * `backendInfo().simdKernels` says which, `backendInfo().simdKernelsVariant` which build runs
 * (relaxed SIMD where the runtime has it, unless `HIERGLOW_RELAXED_SIMD=0`).
 */

export * from './simd-convolutions.js';
export * from './simd-elementwise.js';
export {
  RELAXED_SIMD_ENV_VAR,
  relaxedSimdSupported,
  SIMD_KERNELS_ENV_VAR,
  SIMD_THREADS_ENV_VAR,
  type SimdKernelsVariant,
  simdKernelsAvailable,
  simdKernelsState,
  simdKernelThreads,
} from './simd-module.js';
export * from './simd-products.js';

/**
 * Instantiates the kernels against the active wasm backend's memory and registers them (once
 * per process). Returns whether they are available.
 */
export function installSimdKernels(wasmThreads: number): boolean {
  return loadSimdModule(wasmThreads, () =>
    registerWasmKernels({ ...PRODUCT_KERNELS, ...CONVOLUTION_KERNELS, ...ELEMENTWISE_KERNELS }),
  );
}
