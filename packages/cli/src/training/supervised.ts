import { wrongClassLoss } from '@hierglow/anomaly-metrics';
import type { ImageDataset } from '@hierglow/datasets';
import {
  type AnyModel,
  ClassConditionalGlow,
  type ExtraLoss,
  type FineTuneOptions,
  Glow,
  toClassConditional,
} from '@hierglow/glow';
import * as tf from '@tensorflow/tfjs-core';
import { loadModelFlag } from '../model/checkpoint-ref.js';
import type { RunLog } from '../run/run-log.js';
import { booleanFlag, stringFlag } from '../util/args.js';
import { UsageError } from '../util/errors.js';
import { lossTemperatureFlag, lossWeightFlag } from './defaults.js';

/** Flags of `finetune --supervised` (spec 6.4) besides `--general`. */
export const SUPERVISED_OPTIONS = {
  supervised: { type: 'boolean' },
  'wrong-class-weight': { type: 'string' },
  'wrong-class-temperature': { type: 'string' },
} as const;

/** The supervised variant of a fine-tuning run (spec 6.4). */
export interface SupervisedSettings {
  /** λ and T of the wrong-class loss (spec 6.4: the outlier loss's defaults). */
  weight: number;
  temperature: number;
  /** The frozen general model p_gen the wrong-class loss compares with (default: --from). */
  general: string;
}

/** `--supervised` and its loss flags, or undefined; the loss flags alone are an error. */
export function resolveSupervisedSettings(
  values: Record<string, unknown>,
  from: string,
): SupervisedSettings | undefined {
  if (!booleanFlag(values, 'supervised')) {
    for (const flag of ['wrong-class-weight', 'wrong-class-temperature']) {
      if (values[flag] !== undefined)
        throw new UsageError(`finetune: --${flag} needs --supervised`);
    }
    return undefined;
  }
  return {
    weight: lossWeightFlag(values, 'wrong-class-weight', 'leave out --supervised'),
    temperature: lossTemperatureFlag(values, 'wrong-class-temperature'),
    general: stringFlag(values, 'general', from),
  };
}

/** The number of classes of labelled training data; a UsageError names the flag otherwise. */
export function labelledClassCount(data: ImageDataset): number {
  const classes = data.numClasses;
  if (!data.labels || classes === undefined || classes < 2) {
    throw new UsageError(
      `--supervised needs labelled --data with at least 2 classes; ${data.description} has ${
        data.labels ? `${classes ?? 'an unknown number of'} class(es)` : 'no labels'
      }`,
      1,
    );
  }
  return classes;
}

/**
 * The model a supervised fine-tune trains: the `--from` model as a class-conditional Glow with
 * one head per class of the data (spec 6.4: flow and prior ActNorms kept, fresh heads), or the
 * model itself when it already is one with that many classes (a resumed run).
 */
export function supervisedModel(
  model: AnyModel,
  numClasses: number,
  log: RunLog,
): ClassConditionalGlow {
  if (model instanceof ClassConditionalGlow) {
    if (model.numClasses !== numClasses) {
      throw new UsageError(
        `--supervised: the model has ${model.numClasses} classes but the data has ${numClasses}`,
        1,
      );
    }
    return model;
  }
  if (!(model instanceof Glow) || model.getConfig().prior !== 'per-dimension') {
    throw new UsageError(
      `--supervised needs a multi-scale Glow with the paper's per-dimension prior (spec 3.5) to put class heads on; --from holds a '${model.kind}' model${
        model instanceof Glow ? ` with prior '${model.getConfig().prior}'` : ''
      }`,
      1,
    );
  }
  log.line(
    `supervised (spec 6.4): class-conditional heads for ${numClasses} classes on the --from model's prior ActNorms`,
  );
  return toClassConditional(model, numClasses);
}

/**
 * The fine-tuning terms of the supervised variant (spec 6.4) on top of `base` (the outlier
 * loss, if any, which then scores outliers with the mixture log p):
 *
 * - the NLL term uses the true class, `−log p(x|y) + D ln 256` (the trainer's `inlierLogP`);
 * - the wrong-class loss `λ·softplus((log p(x|c) − log p_gen(x))/T)` at every c ≠ y, averaged
 *   over all B×C entries, against the frozen general model on the training batch.
 */
export async function supervisedTraining(
  s: SupervisedSettings,
  model: ClassConditionalGlow,
  base: FineTuneOptions | undefined,
  keepModel: (m: AnyModel) => void,
  log: RunLog,
): Promise<FineTuneOptions> {
  let general = base?.frozenModel as AnyModel | undefined;
  if (!general) {
    const loaded = await loadModelFlag('general', s.general);
    general = loaded.model;
    keepModel(general);
    if (general.inputShape.join('x') !== model.inputShape.join('x')) {
      throw new UsageError(
        `--general: ${loaded.dir} takes ${general.inputShape.join('x')} images but the fine-tuned model takes ${model.inputShape.join('x')}`,
        1,
      );
    }
  }
  log.line(
    `supervised losses: true-class NLL, wrong-class loss λ=${s.weight}, T=${s.temperature} against the frozen general model ${s.general}` +
      (base
        ? `, plus the ${base.extraLosses.map((l) => l.name).join(', ')} loss on the mixture`
        : ''),
  );
  const options = { weight: s.weight, temperature: s.temperature };
  const wrongClass: ExtraLoss = {
    name: 'wrong-class',
    compute: (ctx) =>
      wrongClassLoss(
        ctx.output.logPPerClass!,
        ctx.frozen!.logP,
        ctx.labels as tf.Tensor1D,
        options,
      ),
  };
  return {
    ...base,
    extraLosses: [wrongClass, ...(base?.extraLosses ?? [])],
    frozenModel: general,
    frozenOnTrainingBatch: true,
    inlierLogP: (output, labels) => trueClassLogP(output.logPPerClass!, labels!),
  };
}

/** log p(x|y) of every example's own class: `[B, C]` and labels `[B]` → `[B]`. */
function trueClassLogP(logPPerClass: tf.Tensor2D, labels: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, logPPerClass.shape[1]);
    // Selected with where(), not multiplied by the one-hot mask: 0·(−inf) at another class
    // would turn the sum into NaN.
    return tf.sum(tf.where(tf.cast(oneHot, 'bool'), logPPerClass, tf.zerosLike(logPPerClass)), 1);
  }) as tf.Tensor1D;
}
