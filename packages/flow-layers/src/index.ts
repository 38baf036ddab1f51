export * from './errors.js';
export {
  BACKEND_ENV_VAR,
  BACKEND_NAMES,
  backendInfo,
  resolveBackendName,
  selectBackend,
  type BackendInfo,
  type BackendName,
} from './backend.js';
export {
  activeDataInitPass,
  assertRank,
  assignVariables,
  Bijector,
  bijectorFromConfig,
  constantLogDet,
  prefixVariables,
  registerBijector,
  withDataInit,
  type BijectorConfig,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
} from './bijector.js';
export { conv2d, type ConvPadding } from './ops/conv2d.js';
export { matMul } from './ops/matmul.js';
export { invert, logAbsDet, luDecompose, matMulSquare, qrOrthogonal, type LuDecomposition } from './linalg.js';
export { createRng, randomPermutation, type Rng } from './rng.js';
