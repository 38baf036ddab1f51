/**
 * `@hierglow/backend-wasm`: the runtime that makes hierglow fast. Selecting a backend here
 * installs this package's fused ops into `@hierglow/flow-layers`; on wasm it also starts the
 * threaded binary under Node and loads hierglow's own SIMD kernels.
 */
export {
  BACKEND_ENV_VAR,
  BACKEND_NAMES,
  type BackendInfo,
  type BackendName,
  backendInfo,
  resolveBackendName,
  type SelectBackendOptions,
  selectBackend,
} from './backend.js';
export { BackendUnavailableError } from './errors.js';
export { fastPathsEnabled, setFastPaths, withFastPaths } from './fast-paths.js';
export { WASM_FUSED_OPS } from './fused-ops.js';
export {
  type AdamaxUpdateAttrs,
  adamaxUpdateKernel,
  allFiniteKernel,
  RELAXED_SIMD_ENV_VAR,
  relaxedSimdSupported,
  type SimdKernelsVariant,
  simdKernelsAvailable,
} from './kernels/simd-kernels.js';
