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
export {
  activeDataInitPass,
  assertRank,
  assignVariables,
  Bijector,
  type BijectorConfig,
  bijectorFromConfig,
  type ChannelAffine,
  constantLogDet,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
  ownedVariable,
  prefixVariables,
  registerBijector,
  withDataInit,
} from './bijector.js';
export { ActNorm, type ActNormOptions, isDataInitialised } from './bijectors/act-norm.js';
export { Chain } from './bijectors/chain.js';
export { forwardChannelAffineRun } from './bijectors/channel-affine.js';
export { AdditiveCoupling, AffineCoupling, type CouplingOptions } from './bijectors/coupling.js';
export { InvConv1x1, type InvConv1x1Options } from './bijectors/inv-conv-1x1.js';
export { Invert } from './bijectors/invert.js';
export {
  flattenNchw,
  type LevelShapes,
  type LevelsResult,
  MultiScale,
  type MultiScaleOptions,
  unflattenNchw,
} from './bijectors/multi-scale.js';
export { Reverse, Shuffle, type ShuffleOptions } from './bijectors/permutation.js';
export { Reshape, type ReshapeOptions } from './bijectors/reshape.js';
export { Squeeze, type SqueezeOptions } from './bijectors/squeeze.js';
export type { Distribution } from './distributions/distribution.js';
export { NormalizingFlow, type SamplesWithLogProb } from './distributions/normalizing-flow.js';
export { StandardNormal } from './distributions/standard-normal.js';
export * from './errors.js';
export { fastPathsEnabled, setFastPaths, withFastPaths } from './fast-paths.js';
export {
  type AdamaxUpdateAttrs,
  adamaxUpdateKernel,
  allFiniteKernel,
  simdKernelsAvailable,
} from './kernels/simd-kernels.js';
export {
  invert,
  type LuDecomposition,
  logAbsDet,
  luDecompose,
  matMulSquare,
  qrOrthogonal,
} from './linalg.js';
export { ConvCouplingNet, type ConvCouplingNetOptions } from './nets/conv-coupling-net.js';
export {
  type CouplingNet,
  type CouplingNetConfig,
  couplingNetFromConfig,
  registerCouplingNet,
} from './nets/coupling-net.js';
export { DenseCouplingNet, type DenseCouplingNetOptions } from './nets/dense-coupling-net.js';
export {
  concatChannelHalves,
  deinterleaveChannels,
  splitChannelHalves,
} from './ops/channels.js';
export { type ConvActivation, type ConvPadding, conv2d, conv2dBias } from './ops/conv2d.js';
export { matMul, matMulTransposeA, sumRows } from './ops/matmul.js';
export { transpose2d } from './ops/transpose.js';
export {
  type Dequantization,
  PIXEL_BIN_WIDTH,
  type PixelsToInputOptions,
  pixelsToInput,
} from './preprocess.js';
export { createRng, type Rng, randomPermutation } from './rng.js';
