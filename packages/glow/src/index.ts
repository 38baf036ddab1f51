/**
 * @hierglow/glow: the multi-scale Glow of Schirrmeister et al. (2020) with per-scale
 * likelihoods, its local-patch and fully-connected variants, training and checkpoints.
 * Images are NHWC with values in [−0.5, 0.5); log-densities are in nats unless a name says Bpd.
 */

export { CRASH_TEST_PAUSE_ENV, recoverInterruptedSave } from './checkpoint/atomic-directory.js';
export {
  loadCheckpoint,
  readSafetensorsFile,
  restoreModel,
  saveCheckpoint,
} from './checkpoint/checkpoint-directory.js';
export { restoreClassConditional } from './checkpoint/restore-class-conditional.js';
export * from './index.browser.js';
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
