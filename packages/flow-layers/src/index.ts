/**
 * `@hierglow/flow-layers`: bijectors with exact log-determinants for TensorFlow.js, their
 * coupling networks, and (under `./testing`) the checks every bijector should pass.
 *
 * This file is the package's whole public API; every other module is internal and may change
 * without notice (package.json's `exports` makes only this file and `./testing` reachable).
 * Speed comes from an optional runtime package that installs a {@link FusedOps} set (see
 * `@hierglow/backend-wasm`); without one, every op is a stock tfjs op on any backend.
 */
import './register-gradients.js';

// The contract and its helpers.
export {
  assignVariables,
  Bijector,
  type BijectorConfig,
  bijectorFromConfig,
  constantLogDet,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
  ownedVariable,
  prefixVariables,
  registerBijector,
  withDataInit,
} from './bijector.js';
// Bijectors.
export { ActNorm, type ActNormOptions } from './bijectors/act-norm.js';
export { Chain, forwardSequence, type SequenceResult } from './bijectors/chain.js';
export type { ChannelAffine, ChannelAffineForm } from './bijectors/channel-affine.js';
export { AdditiveCoupling, AffineCoupling, type CouplingOptions } from './bijectors/coupling.js';
export { InvConv1x1, type InvConv1x1Options } from './bijectors/inv-conv-1x1.js';
export { Invert } from './bijectors/invert.js';
export { Reverse, Shuffle, type ShuffleOptions } from './bijectors/permutation.js';
export { Reshape, type ReshapeOptions } from './bijectors/reshape.js';
export {
  accumulateGradient,
  backwardSequence,
  reversibleVariableGrads,
  type SequenceBackwardResult,
  type VariableGradients,
} from './bijectors/reversible.js';
export {
  permutationBackward,
  type ReversibleBackwardForm,
  type ReversibleStepResult,
  vjpFromOutput,
} from './bijectors/reversible-step.js';
export { Squeeze, type SqueezeOptions } from './bijectors/squeeze.js';
export {
  type CouplingNet,
  type CouplingNetConfig,
  couplingNetFromConfig,
  registerCouplingNet,
} from './coupling-net.js';
// Distributions: a flow's density over a base distribution.
export type { Distribution } from './distributions/distribution.js';
export { NormalizingFlow, type SamplesWithLogProb } from './distributions/normalizing-flow.js';
export { StandardNormal } from './distributions/standard-normal.js';
// Errors.
export { ConfigError, HierglowError, NotInvertibleError, ShapeError } from './errors.js';
// Coupling networks.
export { ConvCouplingNet, type ConvCouplingNetOptions } from './nets/conv-coupling-net.js';
export { DenseCouplingNet, type DenseCouplingNetOptions } from './nets/dense-coupling-net.js';
// The op interface a runtime package implements.
export type { ConvActivation, ConvPadding, FusedOps } from './ops/fused-ops.js';
export { fusedOps, installFusedOps } from './ops/op-registry.js';
export { PLAIN_OPS } from './ops/plain-ops.js';
