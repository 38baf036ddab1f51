/**
 * @hierglow/glow: the multi-scale Glow of Schirrmeister et al. (2020) with per-scale
 * likelihoods, its local-patch and fully-connected variants, training and checkpoints.
 * Images are NHWC with values in [−0.5, 0.5); log-densities are in nats unless a name says Bpd.
 */

export {
  CRASH_TEST_PAUSE_ENV,
  type FileDigest,
  recoverInterruptedSave,
} from './checkpoint/atomic-directory.js';
export {
  CHECKPOINT_FILES,
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointBytes,
  type CheckpointBytesOptions,
  type CheckpointConfig,
  type CheckpointInput,
  type CheckpointMetadata,
  DEFAULT_PREPROCESSING,
  type LoadedCheckpoint,
  loadCheckpoint,
  loadCheckpointFromBytes,
  loadModelWeights,
  type RestoredModel,
  restoreModel,
  restoreModelFromBytes,
  saveCheckpoint,
} from './checkpoint/checkpoint.js';
export {
  CheckpointCorruptError,
  CheckpointMismatchError,
  CheckpointNotFoundError,
  NonFiniteWeightsError,
} from './checkpoint/errors.js';
export { restoreClassConditional } from './checkpoint/restore-class-conditional.js';
export {
  decodeSafetensors,
  encodeSafetensors,
  readSafetensorsFile,
  type SafetensorsDtype,
  type SafetensorsEntry,
  type SafetensorsFile,
} from './checkpoint/safetensors.js';
export { toClassConditional } from './model/class-conditional-convert.js';
export {
  ClassConditionalGlow,
  type ClassConditionalLogProbResult,
  type ClassConditionalTerms,
  type ClassSampleOptions,
} from './model/class-conditional-glow.js';
export { classificationAccuracy, predictedClasses } from './model/classification.js';
export {
  type CouplingKind,
  configNumDims,
  type DenseGlowConfig,
  type DenseGlowConfigInput,
  type GlowConfig,
  type GlowConfigInput,
  MODEL_CONFIG_LIMITS,
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
  PerDimensionPrior,
  type ScalePrior,
  type StandardizeResult,
  type UnstandardizeResult,
} from './model/prior.js';
export {
  type FlowModel,
  type FlowResult,
  type LogProbResult,
  type SampleOptions,
  type ScaleLogProbTerms,
  ScaleModel,
  ScaleReversiblePass,
} from './model/scale-model.js';
export {
  type NamedLayer,
  type ScaleForwardOptions,
  type ScaleLevel,
  ScaleStack,
  type ScaleTermGradients,
  type ScaleTerms,
} from './model/scale-stack.js';
export type { AdamaxOptions, AdamaxState } from './state/optimizer-state.js';
export type {
  LogProbOutput,
  ModelConfigJson,
  ModelFactory,
  ReversibleForward,
  TrainableModel,
} from './state/trainable-model.js';
export { initialTrainingState, type TrainingState } from './state/training-state.js';
export { ADAMAX_DEFAULTS, Adamax } from './train/adamax.js';
export { type DataPass, type DataStream, passSeed, type TrainingBatch } from './train/data.js';
export { TrainingDivergedError } from './train/errors.js';
export {
  type DataInitializable,
  initializeFromData,
  meanBitsPerDim,
  type NllSummary,
} from './train/evaluation.js';
export {
  DEFAULT_MAX_CONSECUTIVE_SKIPPED_STEPS,
  type ExtraLoss,
  type ExtraLossContext,
  type FineTuneOptions,
  type FitResult,
  type StepReport,
  TRAINING_MEMORY_MODES,
  Trainer,
  type TrainerCheckpointOptions,
  type TrainerEvent,
  type TrainerOptions,
  type TrainingMemory,
} from './train/trainer.js';
