import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  type AnyModel,
  CHECKPOINT_FILES,
  type CheckpointConfig,
  createModel,
  type RestoredModel,
  restoreModel,
} from '@hierglow/glow';
import { UsageError } from '../util/errors.js';

/** Sub-folders of a run folder that hold checkpoints, in the order `--from RUN` looks at them. */
export const RUN_CHECKPOINTS = { final: 'final', latest: 'checkpoint' } as const;

/**
 * The checkpoint directory a flag means: the path itself when it is a checkpoint, else a run
 * folder's `final/` (finished runs), else its `checkpoint/` (the latest save).
 */
export function resolveCheckpointDir(path: string): string {
  if (existsSync(join(path, CHECKPOINT_FILES.config))) {
    const isRunFolder = existsSync(join(path, RUN_CHECKPOINTS.latest, CHECKPOINT_FILES.config));
    if (!isRunFolder) return path;
  }
  for (const sub of [RUN_CHECKPOINTS.final, RUN_CHECKPOINTS.latest]) {
    if (existsSync(join(path, sub, CHECKPOINT_FILES.config))) return join(path, sub);
  }
  return path;
}

/** A model loaded from a checkpoint, with where it came from. */
export interface LoadedModel extends RestoredModel<AnyModel> {
  dir: string;
}

/**
 * Loads the model a flag names (a checkpoint or a run folder, see {@link resolveCheckpointDir}).
 * The optimizer state is read only with `keepOptimizer` (a resume): scoring and fine-tuning
 * load the weights, so a checkpoint copied without `optimizer.safetensors` serves them.
 * Checkpoint errors carry a `_tag` and name the file; they are prefixed with the flag.
 */
export async function loadModelFlag(
  flag: string,
  path: string,
  { keepOptimizer = false } = {},
): Promise<LoadedModel> {
  const dir = resolveCheckpointDir(path);
  let restored: RestoredModel<AnyModel>;
  try {
    restored = await restoreModel(dir, createModel, { optimizerState: keepOptimizer });
  } catch (e) {
    const tag = (e as { _tag?: unknown })._tag;
    if (typeof tag === 'string') throw new UsageError(`--${flag}: ${(e as Error).message}`, 1);
    throw e;
  }
  return { ...restored, dir };
}

/** `[height, width, channels]` of a checkpoint's model. */
export function modelImageShape(config: CheckpointConfig['model']): {
  height: number;
  width: number;
  channels: number;
} {
  return {
    height: Number(config.height),
    width: Number(config.width),
    channels: Number(config.channels),
  };
}
