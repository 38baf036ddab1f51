/**
 * @hierglow/glow: the multi-scale Glow of Schirrmeister et al. (2020) with per-scale
 * likelihoods, its local-patch and fully-connected variants, training and checkpoints.
 * Images are NHWC with values in [−0.5, 0.5); log-densities are in nats unless a name says Bpd.
 */
export {
  type CouplingKind,
  configNumDims,
  DEFAULT_SEED,
  type DenseGlowConfig,
  type DenseGlowConfigInput,
  type GlowConfig,
  type GlowConfigInput,
  MODEL_DEFAULTS,
  type ModelConfig,
  type ModelConfigInput,
  type PatchGlowConfig,
  type PatchGlowConfigInput,
  type PermutationKind,
  type PriorKind,
  resolveModelConfig,
} from './model/config.js';
export { type AnyModel, createModel, isScaleModel } from './model/create-model.js';
export { DenseGlow, Glow } from './model/glow.js';
export { ModelBijector, modelAsBijector } from './model/model-bijector.js';
export { PatchGlow } from './model/patch-glow.js';
export {
  type FlowModel,
  type FlowResult,
  type LogProbResult,
  type SampleOptions,
  type ScaleLogProbTerms,
  ScaleModel,
} from './model/scale-model.js';
export type { ScaleForwardOptions, ScaleTerms } from './model/scale-stack.js';
