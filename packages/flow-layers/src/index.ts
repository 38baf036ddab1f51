export {
  BACKEND_ENV_VAR,
  BACKEND_NAMES,
  type BackendInfo,
  type BackendName,
  backendInfo,
  resolveBackendName,
  selectBackend,
} from './backend.js';
export {
  activeDataInitPass,
  assertRank,
  assignVariables,
  Bijector,
  type BijectorConfig,
  bijectorFromConfig,
  constantLogDet,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
  prefixVariables,
  registerBijector,
  withDataInit,
} from './bijector.js';
export { ActNorm, type ActNormOptions, isDataInitialised } from './bijectors/act-norm.js';
export * from './errors.js';
export {
  invert,
  type LuDecomposition,
  logAbsDet,
  luDecompose,
  matMulSquare,
  qrOrthogonal,
} from './linalg.js';
export { type ConvPadding, conv2d } from './ops/conv2d.js';
export { matMul } from './ops/matmul.js';
export { createRng, type Rng, randomPermutation } from './rng.js';
export { InvConv1x1, type InvConv1x1Options } from './bijectors/inv-conv-1x1.js';
export { AdditiveCoupling, AffineCoupling, type CouplingOptions } from './bijectors/coupling.js';
export {
  type CouplingNet,
  type CouplingNetConfig,
  couplingNetFromConfig,
  registerCouplingNet,
} from './nets/coupling-net.js';
export { ConvCouplingNet, type ConvCouplingNetOptions } from './nets/conv-coupling-net.js';
export { DenseCouplingNet, type DenseCouplingNetOptions } from './nets/dense-coupling-net.js';
