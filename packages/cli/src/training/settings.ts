import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  ADAMAX_DEFAULTS,
  DEFAULT_MAX_CONSECUTIVE_SKIPPED_STEPS,
  type ModelConfig,
  type ModelConfigInput,
  resolveModelConfig,
  TRAINING_MEMORY_MODES,
  type TrainingMemory,
} from '@hierglow/glow';
import { AUGMENT_MODES, type AugmentMode, type DataRef } from '../data/data-source.js';
import {
  booleanFlag,
  choiceFlag,
  numberFlag,
  type OptionSpec,
  requiredStringFlag,
  stringFlag,
} from '../util/args.js';
import { UsageError } from '../util/errors.js';
import { lossTemperatureFlag, lossWeightFlag, TRAINING_DEFAULTS } from './defaults.js';
import {
  resolveSupervisedSettings,
  SUPERVISED_OPTIONS,
  type SupervisedSettings,
} from './supervised.js';

/** The seed of every run of the reference code (spec 6.1). */
export const DEFAULT_RUN_SEED = 20200610;

/** Outlier losses of spec 6.3: 'class' (the paper's BCE on the scaled ratio) and 'margin'. */
export const OUTLIER_LOSSES = ['class', 'margin'] as const;

/** Flags shared by `train` and `finetune`. */
export const COMMON_TRAINING_OPTIONS = {
  data: { type: 'string' },
  split: { type: 'string' },
  limit: { type: 'string' },
  augment: { type: 'string' },
  perturb: { type: 'string' },
  out: { type: 'string' },
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  'weight-decay': { type: 'string' },
  seed: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'keep-epochs': { type: 'boolean' },
  'max-skipped-steps': { type: 'string' },
  memory: { type: 'string' },
  'eval-data': { type: 'string' },
  'eval-split': { type: 'string' },
  'eval-images': { type: 'string' },
  'eval-batch-size': { type: 'string' },
  'no-eval': { type: 'boolean' },
  resume: { type: 'boolean' },
} as const satisfies OptionSpec;

/** Model flags of `train` (training from scratch). */
export const MODEL_OPTIONS = {
  model: { type: 'string' },
  size: { type: 'string' },
  channels: { type: 'string' },
  levels: { type: 'string' },
  'steps-per-level': { type: 'string' },
  hidden: { type: 'string' },
  coupling: { type: 'string' },
  permutation: { type: 'string' },
  'patch-size': { type: 'string' },
  'init-images': { type: 'string' },
} as const satisfies OptionSpec;

/** Flags of `finetune` besides the common ones. */
export const FINETUNE_OPTIONS = {
  from: { type: 'string' },
  general: { type: 'string' },
  'outlier-data': { type: 'string' },
  'outlier-split': { type: 'string' },
  'outlier-augment': { type: 'string' },
  'outlier-loss': { type: 'string' },
  'outlier-weight': { type: 'string' },
  'outlier-temperature': { type: 'string' },
  ...SUPERVISED_OPTIONS,
} as const satisfies OptionSpec;

/**
 * The model of a run from scratch, from the model flags: glow's own config type, resolved and
 * checked by glow's `resolveModelConfig` once, when the flags are read (a bad value fails before
 * anything is written). Only the channel count may wait for the data.
 */
export interface ModelSettings {
  /** The resolved config; its `channels` is a placeholder when {@link channels} is unset. */
  config: ModelConfig;
  /** 1 or 3 from `--channels`; undefined: the data's. */
  channels?: 1 | 3;
  /** Images of the data-dependent initialisation (spec 3.6). */
  initImages: number;
}

/** The outlier loss of a fine-tuning run (spec 6.3). */
export interface OutlierSettings {
  data: DataRef;
  augment: AugmentMode;
  loss: (typeof OUTLIER_LOSSES)[number];
  /** λ and T of the 'class' loss. */
  weight: number;
  temperature: number;
  /** The frozen general model p_gen (default: the starting checkpoint). */
  general: string;
}

/** Everything a training run needs, resolved from flags: what `config.json` records. */
export interface TrainingSettings {
  command: 'train' | 'finetune';
  out: string;
  data: DataRef;
  augment: AugmentMode;
  /**
   * Ren et al.'s perturbation rate μ for a background model (0: off): each training value is
   * replaced by a uniform 8-bit level with this probability.
   */
  perturb: number;
  /** Held-out data for the per-epoch bits/dim (noisy inputs, as the reference's loop). */
  eval: (DataRef & { batchSize: number }) | null;
  /** Set for `train`. */
  model?: ModelSettings;
  /** Set for `finetune`: the checkpoint (or run folder) to start from. */
  from?: string;
  outlier?: OutlierSettings;
  /** Set for `finetune --supervised`: the class-conditional variant (spec 6.4). */
  supervised?: SupervisedSettings;
  epochs: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  seed: number;
  checkpointEverySteps: number;
  /** Keep the model after every epoch, weights only, in the run's `epochs/<N>/`. */
  keepEpochs: boolean;
  /** Consecutive non-finite steps that stop the run as diverged. */
  maxSkippedSteps: number;
  /**
   * The trainer's backward pass: 'autodiff' keeps every activation; 'reversible' recomputes
   * each flow step's input from its output (memory independent of the number of steps).
   */
  memory: TrainingMemory;
}

function limitFlag(values: Record<string, unknown>, name: string): number | undefined {
  return values[name] === undefined
    ? undefined
    : numberFlag(values, name, 0, { min: 1, integer: true });
}

/**
 * The default held-out data: the test split of a catalogue dataset, or the test/validation
 * `.hgds` beside a folder's training split; else nothing.
 */
function defaultEval(values: Record<string, unknown>, data: DataRef): DataRef | null {
  if (booleanFlag(values, 'no-eval')) return null;
  const source = stringFlag(values, 'eval-data');
  const images = numberFlag(values, 'eval-images', TRAINING_DEFAULTS.evalImages, {
    min: 1,
    integer: true,
  });
  if (source !== undefined) {
    return {
      flag: 'eval-data',
      source,
      split: stringFlag(values, 'eval-split', 'test'),
      limit: images,
    };
  }
  const split = stringFlag(values, 'eval-split');
  // A catalogue name (no path separator or extension): its test split exists by construction.
  if (!/[/\\.]/.test(data.source) && data.split !== 'test') {
    return { flag: 'data', source: data.source, split: split ?? 'test', limit: images };
  }
  // A folder of .hgds splits, e.g. the general builder's train.hgds + validation.hgds.
  for (const held of split ? [split] : ['test', 'validation']) {
    if (held !== data.split && existsSync(join(data.source, `${held}.hgds`))) {
      return { flag: 'data', source: data.source, split: held, limit: images };
    }
  }
  return null;
}

/**
 * Resolves the flags of `hierglow train` / `hierglow finetune` into {@link TrainingSettings},
 * with defaults from spec 6 (Adamax lr 5e-4, weight decay 5e-5, batch 64, seed 20200610) and
 * one-line errors that name the flag.
 */
export function resolveTrainingSettings(
  command: 'train' | 'finetune',
  values: Record<string, unknown>,
): TrainingSettings {
  const data: DataRef = {
    flag: 'data',
    source: requiredStringFlag(
      values,
      'data',
      command,
      'NAME|PATH (a catalogue name such as fashion-mnist, or a dataset path)',
    ),
    split: stringFlag(values, 'split', 'train'),
  };
  const limit = limitFlag(values, 'limit');
  if (limit !== undefined) data.limit = limit;
  const out = requiredStringFlag(values, 'out', command, 'RUN_DIR (the folder this run writes)');
  const evalRef = defaultEval(values, data);
  const settings: TrainingSettings = {
    command,
    out,
    data,
    augment: choiceFlag(values, 'augment', AUGMENT_MODES, 'auto'),
    perturb: numberFlag(values, 'perturb', 0, { min: 0, max: 1 }),
    eval: evalRef
      ? {
          ...evalRef,
          batchSize: numberFlag(values, 'eval-batch-size', TRAINING_DEFAULTS.evalBatchSize, {
            min: 1,
            integer: true,
          }),
        }
      : null,
    epochs: numberFlag(values, 'epochs', TRAINING_DEFAULTS.epochs, { min: 0, integer: true }),
    batchSize: numberFlag(values, 'batch-size', TRAINING_DEFAULTS.batchSize, {
      min: 2,
      integer: true,
    }),
    learningRate: numberFlag(values, 'lr', ADAMAX_DEFAULTS.learningRate, { min: 0 }),
    weightDecay: numberFlag(values, 'weight-decay', ADAMAX_DEFAULTS.weightDecay, { min: 0 }),
    seed: numberFlag(values, 'seed', DEFAULT_RUN_SEED, { integer: true }),
    checkpointEverySteps: numberFlag(
      values,
      'checkpoint-every',
      TRAINING_DEFAULTS.checkpointEvery,
      { min: 1, integer: true },
    ),
    keepEpochs: booleanFlag(values, 'keep-epochs'),
    maxSkippedSteps: numberFlag(
      values,
      'max-skipped-steps',
      DEFAULT_MAX_CONSECUTIVE_SKIPPED_STEPS,
      {
        min: 1,
        integer: true,
      },
    ),
    memory: choiceFlag(values, 'memory', TRAINING_MEMORY_MODES, 'autodiff'),
  };
  if (command === 'train') {
    for (const flag of Object.keys(FINETUNE_OPTIONS)) {
      if (values[flag] !== undefined) {
        throw new UsageError(
          `train: --${flag} belongs to 'hierglow finetune' (training from a checkpoint)`,
        );
      }
    }
    settings.model = resolveModelSettings(values, settings.seed);
  } else {
    for (const flag of Object.keys(MODEL_OPTIONS)) {
      if (values[flag] !== undefined) {
        throw new UsageError(
          `finetune: --${flag} cannot be set; the model comes from the --from checkpoint (use 'hierglow train' for a new model)`,
        );
      }
    }
    settings.from = requiredStringFlag(
      values,
      'from',
      command,
      'CKPT_DIR (a checkpoint or a run folder)',
    );
    const supervised = resolveSupervisedSettings(values, settings.from);
    if (supervised) settings.supervised = supervised;
    const outlierData = stringFlag(values, 'outlier-data');
    if (outlierData !== undefined) {
      settings.outlier = {
        data: {
          flag: 'outlier-data',
          source: outlierData,
          split: stringFlag(values, 'outlier-split', 'train'),
        },
        augment: choiceFlag(values, 'outlier-augment', AUGMENT_MODES, 'auto'),
        loss: choiceFlag(values, 'outlier-loss', OUTLIER_LOSSES, 'class'),
        weight: lossWeightFlag(values, 'outlier-weight', 'leave out --outlier-data'),
        temperature: lossTemperatureFlag(values, 'outlier-temperature'),
        general: stringFlag(values, 'general', settings.from),
      };
    } else {
      for (const flag of [
        // --supervised compares with the general model even without outliers.
        ...(supervised ? [] : ['general']),
        'outlier-split',
        'outlier-augment',
        'outlier-loss',
        'outlier-weight',
        'outlier-temperature',
      ]) {
        if (values[flag] !== undefined)
          throw new UsageError(`finetune: --${flag} needs --outlier-data`);
      }
    }
  }
  return settings;
}

/** Model flags and the config fields they set (errors from glow name the flag). */
const MODEL_FLAG_OF_FIELD: Record<string, string> = {
  kind: 'model',
  height: 'size',
  width: 'size',
  channels: 'channels',
  levels: 'levels',
  stepsPerLevel: 'steps-per-level',
  steps: 'steps-per-level',
  hidden: 'hidden',
  coupling: 'coupling',
  permutation: 'permutation',
  patchSize: 'patch-size',
  seed: 'seed',
};

/** A number flag as given (range checks are glow's), or undefined when absent. */
function numberOrUndefined(values: Record<string, unknown>, name: string): number | undefined {
  return values[name] === undefined ? undefined : numberFlag(values, name, 0);
}

function resolveModelSettings(values: Record<string, unknown>, seed: number): ModelSettings {
  const kind = choiceFlag(values, 'model', ['glow', 'patch-glow', 'dense-glow'] as const, 'glow');
  const channels = numberOrUndefined(values, 'channels');
  if (channels !== undefined && channels !== 1 && channels !== 3) {
    throw new UsageError(`--channels must be 1 (grey) or 3 (RGB), got '${values.channels}'`);
  }
  const size = numberFlag(values, 'size', TRAINING_DEFAULTS.size);
  const steps = numberOrUndefined(values, 'steps-per-level');
  // Only what the flags set: every other field takes glow's default (MODEL_DEFAULTS).
  const given = {
    kind,
    height: size,
    width: size,
    channels: channels ?? 1,
    hidden: numberOrUndefined(values, 'hidden'),
    coupling: stringFlag(values, 'coupling'),
    permutation: stringFlag(values, 'permutation'),
    seed,
    ...(kind === 'patch-glow'
      ? { steps, patchSize: numberOrUndefined(values, 'patch-size') }
      : { stepsPerLevel: steps, levels: numberOrUndefined(values, 'levels') }),
  };
  if (kind === 'patch-glow' && values.levels !== undefined) {
    throw new UsageError('--levels does not apply to --model patch-glow (it has one scale)');
  }
  if (kind !== 'patch-glow' && values['patch-size'] !== undefined) {
    throw new UsageError(`--patch-size applies to --model patch-glow only, not ${kind}`);
  }
  let config: ModelConfig;
  try {
    config = resolveModelConfig(given as ModelConfigInput, 'model flags');
  } catch (e) {
    throw new UsageError(`train: ${modelFlagMessage((e as Error).message)}`);
  }
  const model: ModelSettings = {
    config,
    initImages: numberFlag(values, 'init-images', TRAINING_DEFAULTS.initImages, {
      min: 2,
      integer: true,
    }),
  };
  if (channels !== undefined) model.channels = channels as 1 | 3;
  return model;
}

/** glow's message about a config field, reworded to name the flag that set it. */
function modelFlagMessage(message: string): string {
  return message
    .replace(/^model flags: /, '')
    .replace(/'(\w+)'/g, (quoted, field: string) =>
      MODEL_FLAG_OF_FIELD[field] ? `--${MODEL_FLAG_OF_FIELD[field]}` : quoted,
    );
}

/** The config of `createModel` for these settings and the data's channel count. */
export function modelConfigFor(m: ModelSettings, dataChannels: number, seed: number): ModelConfig {
  return { ...m.config, channels: m.channels ?? dataChannels, seed };
}
