import * as tf from '@tensorflow/tfjs-core';
import { PACKAGE_INFO } from '../package-info.js';
import type { ModelFactory, TrainableModel } from '../state/trainable-model.js';
import {
  CHECKPOINT_FILES,
  CHECKPOINT_FORMAT,
  type CheckpointMetadata,
  checkpointConfig,
  finiteEntries,
  type LoadedCheckpoint,
  loadCheckpointFromBytes,
  modelFileMetadata,
  type RestoredModel,
  restoreFrom,
  savableModelConfig,
} from './checkpoint.js';
import { CheckpointCorruptError, CheckpointNotFoundError } from './errors.js';
import {
  encodeSafetensors,
  type SafetensorsDtype,
  type SafetensorsEntry,
  tensorsToEntries,
} from './safetensors.js';
import { sha256 } from './sha256.js';

/**
 * A model's weights through a `tf.io` handler, so it saves to and loads from IndexedDB
 * (`indexeddb://name`), local storage, HTTP (`tf.io.http(url)`), downloads, or a handler of
 * the caller's, like any tfjs model.
 *
 * The artifacts are real tfjs ones: `weightSpecs` and `weightData` hold the model's variables
 * under their names; `modelTopology` is the checkpoint's `config.json` (format, model config,
 * preprocessing, and the size and SHA-256 of the model file); `userDefinedMetadata` holds the
 * model file's safetensors metadata. Loading rebuilds `config.json` and `model.safetensors`
 * from them (the encoding is deterministic) and runs the one validation of every loader, so
 * weights changed in storage fail the checksum like a corrupt file on disk. The optimizer and
 * training state stay with checkpoint directories: handlers carry what scoring needs.
 */

/** `weightSpecs` dtypes for each safetensors dtype a model's variables can have. */
const TFJS_DTYPE: Partial<Record<SafetensorsDtype, 'float32' | 'int32' | 'bool'>> = {
  F32: 'float32',
  I32: 'int32',
  BOOL: 'bool',
};
const SAFETENSORS_DTYPE: Record<string, SafetensorsDtype> = {
  float32: 'F32',
  int32: 'I32',
  bool: 'BOOL',
};

/** A handler, or a URL that tfjs routes to one (`indexeddb://`, `localstorage://`, `http://`...). */
export type ModelDestination = string | tf.io.IOHandler;

function handlerFor(target: ModelDestination, purpose: 'save' | 'load'): tf.io.IOHandler {
  if (typeof target !== 'string') {
    if (typeof target[purpose] !== 'function') {
      throw new TypeError(`the tf.io handler given has no ${purpose}() method`);
    }
    return target;
  }
  const handlers =
    purpose === 'save' ? tf.io.getSaveHandlers(target) : tf.io.getLoadHandlers(target);
  if (handlers.length === 0) {
    throw new TypeError(
      `no tf.io handler can ${purpose} '${target}' here (in a browser: indexeddb://, localstorage://, downloads://, http(s)://; or pass a handler)`,
    );
  }
  return handlers[0]!;
}

/** What {@link saveModelTo} records beside the weights. */
export interface SaveModelToInput {
  model: TrainableModel;
  metadata?: CheckpointMetadata;
}

/**
 * Saves a model's weights and config through a `tf.io` handler. Weights that are not all
 * finite are refused before anything is written, as by `saveCheckpoint`.
 *
 * @example
 * await saveModelTo('indexeddb://fashion-glow', { model });
 */
export async function saveModelTo(
  destination: ModelDestination,
  input: SaveModelToInput,
): Promise<tf.io.SaveResult> {
  const handler = handlerFor(destination, 'save');
  const modelConfig = savableModelConfig(input.model, 'saveModelTo');
  const where = typeof destination === 'string' ? destination : 'tf.io handler';
  const entries = finiteEntries(await tensorsToEntries(input.model.variables()), where);
  const fileMetadata = modelFileMetadata(modelConfig);
  const modelBytes = encodeSafetensors(entries, fileMetadata);
  const config = checkpointConfig(modelConfig, input.metadata ?? {}, {
    [CHECKPOINT_FILES.model]: { bytes: modelBytes.length, sha256: sha256(modelBytes) },
  });
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const parts: Uint8Array[] = [];
  for (const [name, entry] of Object.entries(entries)) {
    const dtype = TFJS_DTYPE[entry.dtype];
    if (!dtype) throw new TypeError(`saveModelTo: variable '${name}' is ${entry.dtype}`);
    weightSpecs.push({ name, shape: entry.shape, dtype });
    parts.push(new Uint8Array(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength));
  }
  const weightData = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    weightData.set(part, offset);
    offset += part.length;
  }
  return handler.save!({
    modelTopology: config as unknown as tf.io.ModelJSON['modelTopology'],
    format: CHECKPOINT_FORMAT,
    generatedBy: `${PACKAGE_INFO.name}@${PACKAGE_INFO.version}`,
    weightSpecs,
    weightData: weightData.buffer,
    userDefinedMetadata: { safetensors: fileMetadata },
  });
}

/**
 * Loads what {@link saveModelTo} saved, with the checks of every checkpoint loader (config,
 * size and SHA-256 of the weights, finite values). `name` is what error messages call it.
 */
export async function loadCheckpointFrom(
  source: ModelDestination,
  options: { name?: string } = {},
): Promise<LoadedCheckpoint> {
  const handler = handlerFor(source, 'load');
  const name = options.name ?? (typeof source === 'string' ? source : 'tf.io handler');
  const artifacts = await handler.load!();
  if (artifacts.format !== CHECKPOINT_FORMAT || typeof artifacts.modelTopology !== 'object') {
    throw new CheckpointNotFoundError(
      `${name} is not a hierglow model: its artifacts' format is ${JSON.stringify(artifacts.format)}, not '${CHECKPOINT_FORMAT}'`,
    );
  }
  const corrupt = (what: string) =>
    new CheckpointCorruptError(`${name}/${CHECKPOINT_FILES.model}: ${what}`);
  const specs = artifacts.weightSpecs ?? [];
  const data = artifacts.weightData;
  if (!data) throw corrupt('the artifacts hold no weight data');
  const bytes = new Uint8Array(
    Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : (data as ArrayBuffer),
  );
  const entries: Record<string, SafetensorsEntry> = {};
  let offset = 0;
  for (const spec of specs) {
    const dtype = SAFETENSORS_DTYPE[spec.dtype];
    if (!dtype || spec.quantization) {
      throw corrupt(
        `weight '${spec.name}' is ${spec.dtype}${spec.quantization ? ' (quantised)' : ''}`,
      );
    }
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const size = count * (dtype === 'BOOL' ? 1 : 4);
    if (offset + size > bytes.length) {
      throw corrupt(`the weight data ends inside '${spec.name}' (${bytes.length} bytes in all)`);
    }
    const copy = bytes.slice(offset, offset + size);
    const values =
      dtype === 'F32'
        ? new Float32Array(copy.buffer)
        : dtype === 'I32'
          ? new Int32Array(copy.buffer)
          : copy;
    entries[spec.name] = { dtype, shape: [...spec.shape], data: values };
    offset += size;
  }
  if (offset !== bytes.length) {
    throw corrupt(`${bytes.length - offset} bytes of weight data beyond the last weight`);
  }
  const fileMetadata =
    (artifacts.userDefinedMetadata as { safetensors?: Record<string, string> } | undefined)
      ?.safetensors ?? {};
  const files = new Map<string, Uint8Array>([
    [CHECKPOINT_FILES.config, new TextEncoder().encode(JSON.stringify(artifacts.modelTopology))],
    [CHECKPOINT_FILES.model, encodeSafetensors(entries, fileMetadata)],
  ]);
  return loadCheckpointFromBytes(files, { name });
}

/**
 * Rebuilds a model saved with {@link saveModelTo} (see {@link loadCheckpointFrom}).
 *
 * @example
 * const { model } = await restoreModelFrom('indexeddb://fashion-glow', createModel);
 */
export async function restoreModelFrom<M extends TrainableModel>(
  source: ModelDestination,
  factory: ModelFactory<M>,
  options: { name?: string } = {},
): Promise<RestoredModel<M>> {
  return restoreFrom(await loadCheckpointFrom(source, options), factory);
}
