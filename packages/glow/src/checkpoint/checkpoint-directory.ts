import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ModelFactory, TrainableModel } from '../state/trainable-model.js';
import {
  crashTestStageHook,
  type DirectoryFile,
  interruptedSaveLeftovers,
  type SaveStage,
  writeDirectoryAtomically,
} from './atomic-directory.js';
import {
  CHECKPOINT_FILES,
  type CheckpointInput,
  type CheckpointReadOptions,
  checkpointConfig,
  decodeCheckpoint,
  encodeOptimizer,
  finiteEntries,
  type LoadedCheckpoint,
  modelFileMetadata,
  type RestoredModel,
  restoreFrom,
  savableModelConfig,
} from './checkpoint.js';
import { CheckpointCorruptError, CheckpointNotFoundError } from './errors.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsFile,
  tensorsToEntries,
} from './safetensors.js';

/**
 * Node-only: checkpoints as directories on disk (atomic saves, loading with hints about
 * interrupted saves). The format, its validation and loading from bytes or a URL live in
 * checkpoint.ts, which runs anywhere.
 */

/**
 * Saves a checkpoint directory atomically (temporary sibling, flushed, then renamed over `dir`):
 * a save killed halfway never leaves something that loads as the new checkpoint. Weights that
 * are not all finite are refused ({@link NonFiniteWeightsError}) and nothing is written.
 *
 * @example
 * await saveCheckpoint('runs/fmnist/checkpoint', { model, optimizer, trainingState });
 */
export async function saveCheckpoint(dir: string, input: CheckpointInput): Promise<void> {
  const label = input.trainingState ? `step-${input.trainingState.step}` : 'weights';
  await saveCheckpointStaged(dir, input, crashTestStageHook(dir, label));
}

/** {@link saveCheckpoint} with a hook at every stage of the atomic write; for the crash tests. */
export async function saveCheckpointStaged(
  dir: string,
  input: CheckpointInput,
  onStage?: (stage: SaveStage) => void | Promise<void>,
): Promise<void> {
  const { model, optimizer, trainingState, metadata = {} } = input;
  const modelConfig = savableModelConfig(model, 'saveCheckpoint');
  await writeDirectoryAtomically(
    dir,
    (digests) => {
      const files: DirectoryFile[] = [
        {
          name: CHECKPOINT_FILES.model,
          bytes: async () =>
            encodeSafetensors(
              finiteEntries(await tensorsToEntries(model.variables()), resolve(dir)),
              modelFileMetadata(modelConfig),
            ),
        },
      ];
      if (optimizer)
        files.push({ name: CHECKPOINT_FILES.optimizer, bytes: () => encodeOptimizer(optimizer) });
      if (trainingState) {
        files.push({
          name: CHECKPOINT_FILES.trainingState,
          bytes: async () =>
            new TextEncoder().encode(`${JSON.stringify(trainingState, null, 2)}\n`),
        });
      }
      files.push({
        name: CHECKPOINT_FILES.config,
        bytes: async () => {
          const config = checkpointConfig(modelConfig, metadata, digests());
          return new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`);
        },
      });
      return files;
    },
    onStage,
  );
}

/**
 * Loads a checkpoint directory: checks `config.json`, every file's size and SHA-256, and
 * decodes the tensors, which must be finite. Errors name the file:
 * {@link CheckpointNotFoundError} (no checkpoint there, with a hint when an interrupted save
 * left one aside), {@link CheckpointCorruptError} (truncated, bad JSON, checksum, a weight that
 * is NaN or infinite) and {@link CheckpointMismatchError} (newer format).
 */
export async function loadCheckpoint(
  dir: string,
  options: CheckpointReadOptions = {},
): Promise<LoadedCheckpoint> {
  const root = resolve(dir);
  await assertCheckpointDirectory(root);
  return decodeCheckpoint(
    {
      where: root,
      read: async (name) => {
        try {
          return await readFile(join(root, name));
        } catch (cause) {
          throw new CheckpointCorruptError(
            `${join(root, name)}: listed in ${CHECKPOINT_FILES.config} but cannot be read (${(cause as Error).message})`,
            { cause },
          );
        }
      },
    },
    options,
  );
}

async function assertCheckpointDirectory(root: string): Promise<void> {
  let isDir = false;
  try {
    isDir = (await stat(root)).isDirectory();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const { old, temp } = await interruptedSaveLeftovers(root);
    const hint =
      old.length > 0
        ? ` An interrupted save left the previous checkpoint at ${old[0]}: rename it to ${root} to use it.`
        : temp.length > 0
          ? ` An interrupted save left an unfinished temporary directory ${temp[0]}; it is not a checkpoint.`
          : '';
    throw new CheckpointNotFoundError(
      `No checkpoint at ${root}: the directory does not exist.${hint}`,
    );
  }
  if (!isDir) throw new CheckpointNotFoundError(`${root} is a file; a checkpoint is a directory`);
  try {
    await stat(join(root, CHECKPOINT_FILES.config));
  } catch {
    throw new CheckpointNotFoundError(
      `${root} is not a hierglow checkpoint: it has no ${CHECKPOINT_FILES.config}`,
    );
  }
}

/**
 * Loads a checkpoint and rebuilds its model with `factory` (normally this package's
 * `createModel`), then copies the weights in.
 *
 * @example
 * const { model } = await restoreModel('runs/tiny/checkpoint', createModel, { optimizerState: false });
 */
export async function restoreModel<M extends TrainableModel>(
  dir: string,
  factory: ModelFactory<M>,
  options: CheckpointReadOptions = {},
): Promise<RestoredModel<M>> {
  return restoreFrom(await loadCheckpoint(dir, options), factory);
}

/** Reads and decodes a safetensors file; errors name the path. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  return decodeSafetensors(await readFile(path), path);
}
