/**
 * @hierglow/glow in a browser (the `browser` condition of package.json's `exports`): the
 * models, scoring, optimizer steps and checkpoints from bytes, a URL or a tf.io handler;
 * everything of index.ts that needs no Node built-in. Checkpoint directories on disk and the
 * Trainer (which saves them) are Node-only and exported from index.ts.
 */

export type { FileDigest } from './checkpoint/atomic-directory.js';
export {
  CHECKPOINT_FILES,
  CHECKPOINT_FORMAT,
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointBytes,
  type CheckpointBytesOptions,
  type CheckpointConfig,
  type CheckpointInput,
  type CheckpointMetadata,
  type CheckpointReadOptions,
  type CheckpointUrlOptions,
  DEFAULT_PREPROCESSING,
  type LoadedCheckpoint,
  loadCheckpointFromBytes,
  loadCheckpointFromUrl,
  loadModelWeights,
  type RestoredModel,
  restoreModelFromBytes,
  restoreModelFromUrl,
} from './checkpoint/checkpoint.js';
export {
  CheckpointCorruptError,
  CheckpointMismatchError,
  CheckpointNotFoundError,
  NonFiniteWeightsError,
} from './checkpoint/errors.js';
export {
  loadCheckpointFrom,
  type ModelDestination,
  restoreModelFrom,
  type SaveModelToInput,
  saveModelTo,
} from './checkpoint/io-handler.js';
export {
  decodeSafetensors,
  encodeSafetensors,
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
