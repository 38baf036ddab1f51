import { ConfigError } from '@hierglow/flow-layers';
import { toClassConditional } from '../model/class-conditional-convert.js';
import { ClassConditionalGlow } from '../model/class-conditional-glow.js';
import { createModel } from '../model/create-model.js';
import type { Glow } from '../model/glow.js';
import { restoreModel } from './checkpoint-directory.js';

/**
 * Loads a checkpoint as a class-conditional Glow: a class-conditional checkpoint as it is, an
 * unsupervised Glow checkpoint through {@link toClassConditional}. The optimizer state is not
 * read (fine-tuning starts a fresh optimizer, spec 6.3); resume a run with `restoreModel`
 * instead.
 *
 * @param numClasses the classes wanted; a class-conditional checkpoint must have as many
 * @example
 * const model = await restoreClassConditional('runs/general/final', 10);
 */
export async function restoreClassConditional(
  dir: string,
  numClasses: number,
): Promise<ClassConditionalGlow> {
  const { model } = await restoreModel(dir, createModel, { optimizerState: false });
  if (model instanceof ClassConditionalGlow) {
    if (model.numClasses !== numClasses) {
      model.dispose();
      throw new ConfigError(
        `${dir}: the checkpoint's model has ${model.numClasses} classes, not the ${numClasses} asked for`,
      );
    }
    return model;
  }
  try {
    return toClassConditional(model as Glow, numClasses);
  } catch (e) {
    throw new ConfigError(`${dir}: ${(e as Error).message}`, { cause: e });
  } finally {
    model.dispose();
  }
}
