import * as tf from '@tensorflow/tfjs-core';
import { PACKAGE_INFO } from '../package-info.js';
import type { AdamaxOptions, AdamaxState, StatefulOptimizer } from '../state/optimizer-state.js';
import type { ModelConfigJson, ModelFactory, TrainableModel } from '../state/trainable-model.js';
import { type TrainingState, trainingStateProblem } from '../state/training-state.js';
import type { FileDigest } from './atomic-directory.js';
import {
  CheckpointCorruptError,
  CheckpointMismatchError,
  CheckpointNotFoundError,
  NonFiniteWeightsError,
} from './errors.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  entryToTensor,
  type SafetensorsEntry,
  type SafetensorsFile,
  tensorsToEntries,
} from './safetensors.js';
import { sha256 } from './sha256.js';

/**
 * A checkpoint is a directory:
 *
 * - `config.json`: {@link CheckpointConfig}: format and version, the model config (with its
 *   `kind`), preprocessing, training metadata, the hierglow version, and the size and SHA-256
 *   of every other file;
 * - `model.safetensors`: one tensor per entry of the model's `variables()`, under the same
 *   hierarchical names, in tfjs layout (NHWC activations; conv kernels `[kh, kw, in, out]`);
 *   float32 as F32, int32 as I32;
 * - `optimizer.safetensors` (optional): Adamax state, `exp_avg.<variable name>` and
 *   `exp_inf.<variable name>`, with the per-variable step counts, the iteration count and the
 *   hyper-parameters as JSON strings in the safetensors metadata;
 * - `training-state.json` (optional): step, epoch, position in the epoch, seed (see
 *   {@link TrainingState}): what resuming needs.
 */
export const CHECKPOINT_FILES = Object.freeze({
  config: 'config.json',
  model: 'model.safetensors',
  optimizer: 'optimizer.safetensors',
  trainingState: 'training-state.json',
});

/** The `format` field of every hierglow checkpoint's `config.json`. */
export const CHECKPOINT_FORMAT = 'hierglow-checkpoint';
/** The newest checkpoint layout this version writes and reads. */
export const CHECKPOINT_FORMAT_VERSION = 1;

/** The preprocessing of spec 2.1, recorded when the caller gives none. */
export const DEFAULT_PREPROCESSING: Readonly<Record<string, unknown>> = Object.freeze({
  layout: 'NHWC',
  formula: 'x = v/256 - 0.5, plus u ~ U[0, 1/256) per dimension when training',
  divisor: 256,
  offset: -0.5,
  trainingNoise: 'uniform [0, 1/256)',
});

/** Contents of a checkpoint's `config.json`. */
export interface CheckpointConfig {
  format: typeof CHECKPOINT_FORMAT;
  formatVersion: number;
  /** The package and version that wrote the checkpoint. */
  package: { name: string; version: string };
  createdAt: string;
  /** tfjs backend the weights were computed on (logProb is reproduced exactly on the same one). */
  backend: string;
  model: ModelConfigJson;
  preprocessing: Record<string, unknown>;
  training: Record<string, unknown>;
  /** Size and SHA-256 of every other file of the checkpoint. */
  files: Record<string, FileDigest>;
}

/** Free-form descriptions stored in `config.json` next to the model config. */
export interface CheckpointMetadata {
  /** How pixels became model inputs; {@link DEFAULT_PREPROCESSING} when omitted. */
  preprocessing?: Record<string, unknown>;
  /** Dataset, hyper-parameters, epochs, ...: anything JSON. */
  training?: Record<string, unknown>;
}

/** What {@link saveCheckpoint} stores. */
export interface CheckpointInput {
  model: TrainableModel;
  optimizer?: StatefulOptimizer;
  trainingState?: TrainingState;
  metadata?: CheckpointMetadata;
}

/** A loaded checkpoint. Its tensors belong to the caller: free them with `dispose()`. */
export interface LoadedCheckpoint {
  /** The checkpoint directory (absolute), or the name of bytes loaded with {@link loadCheckpointFromBytes}. */
  dir: string;
  config: CheckpointConfig;
  /** Model variables by name (see {@link CHECKPOINT_FILES}). */
  tensors: Record<string, tf.Tensor>;
  optimizerState?: AdamaxState;
  trainingState?: TrainingState;
  /** Disposes every tensor of this checkpoint. */
  dispose(): void;
}

/** The model's config, which must name its `kind` (what restoring builds). */
export function savableModelConfig(model: TrainableModel, caller: string): ModelConfigJson {
  const modelConfig = model.getConfig();
  if (typeof modelConfig.kind !== 'string' || modelConfig.kind === '') {
    throw new TypeError(`${caller}: the model's getConfig() must have a non-empty string 'kind'`);
  }
  return modelConfig;
}

/** The safetensors metadata of a checkpoint's model file. */
export function modelFileMetadata(modelConfig: ModelConfigJson): Record<string, string> {
  return {
    producer: `${PACKAGE_INFO.name}@${PACKAGE_INFO.version}`,
    kind: modelConfig.kind,
    layout: 'tfjs: NHWC activations, conv kernels [kh, kw, in, out]; names as model.variables()',
  };
}

/** A checkpoint's `config.json`, given the sizes and checksums of its other files. */
export function checkpointConfig(
  modelConfig: ModelConfigJson,
  metadata: CheckpointMetadata,
  files: Record<string, FileDigest>,
): CheckpointConfig {
  return {
    format: CHECKPOINT_FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    package: { name: PACKAGE_INFO.name, version: PACKAGE_INFO.version },
    createdAt: new Date().toISOString(),
    backend: tf.getBackend(),
    model: modelConfig,
    preprocessing: metadata.preprocessing ?? { ...DEFAULT_PREPROCESSING },
    training: metadata.training ?? {},
    files,
  };
}

/** The entries, after checking every float value is finite (else nothing is saved). */
export function finiteEntries(
  entries: Record<string, SafetensorsEntry>,
  dir: string,
): Record<string, SafetensorsEntry> {
  for (const [name, entry] of Object.entries(entries)) {
    const bad = nonFiniteSummary(entry);
    if (bad) {
      throw new NonFiniteWeightsError(
        `${dir}: not saved, model tensor '${name}' ${bad}; the previous checkpoint (if any) is kept`,
      );
    }
  }
  return entries;
}

/** 'holds NaN (3 of 64 values are not finite)' for a float entry with such values, else null. */
function nonFiniteSummary(entry: SafetensorsEntry): string | null {
  if (entry.dtype !== 'F32' && entry.dtype !== 'F64') return null;
  const data = entry.data as Float32Array | Float64Array;
  let count = 0;
  let first = 0;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]!)) {
      if (count === 0) first = data[i]!;
      count += 1;
    }
  }
  if (count === 0) return null;
  return `holds ${Number.isNaN(first) ? 'NaN' : String(first)} (${count} of ${data.length} values are not finite)`;
}

export async function encodeOptimizer(optimizer: StatefulOptimizer): Promise<Uint8Array> {
  const state = optimizer.getState();
  const tensors: Record<string, tf.Tensor> = {};
  for (const name of Object.keys(state.steps)) {
    tensors[`exp_avg.${name}`] = state.expAvg[name]!;
    tensors[`exp_inf.${name}`] = state.expInf[name]!;
  }
  return encodeSafetensors(await tensorsToEntries(tensors), {
    optimizer: 'adamax',
    iterations: String(state.iterations),
    steps: JSON.stringify(state.steps),
    options: JSON.stringify(state.options),
  });
}

/**
 * A checkpoint's files in memory, by file name (`config.json`, `model.safetensors`, ...): what
 * a browser fetches, an archive holds, or a bundler embeds.
 */
export type CheckpointBytes =
  | ReadonlyMap<string, Uint8Array>
  | Readonly<Record<string, Uint8Array>>;

/** What a loader reads of a checkpoint; shared by every loader's options. */
export interface CheckpointReadOptions {
  /**
   * Read and verify `optimizer.safetensors` when `config.json` lists it (default true). Scoring
   * needs only the weights: `false` neither reads nor fetches that file (twice the weights'
   * size), so a checkpoint copied without it still loads; resuming training needs it.
   */
  optimizerState?: boolean;
}

/** Options of {@link loadCheckpointFromBytes} and {@link restoreModelFromBytes}. */
export interface CheckpointBytesOptions extends CheckpointReadOptions {
  /** What error messages and `LoadedCheckpoint.dir` call the checkpoint (default 'checkpoint'). */
  name?: string;
}

/**
 * Loads a checkpoint from its files' bytes, with exactly the checks of {@link loadCheckpoint}:
 * `config.json`, every listed file's size and SHA-256, the tensors. Files that `config.json`
 * does not list are ignored, as on disk.
 *
 * @example
 * const files = new Map([['config.json', configBytes], ['model.safetensors', weightBytes]]);
 * const checkpoint = await loadCheckpointFromBytes(files, { name: 'fashion' });
 */
export async function loadCheckpointFromBytes(
  files: CheckpointBytes,
  options: CheckpointBytesOptions = {},
): Promise<LoadedCheckpoint> {
  const where = options.name ?? 'checkpoint';
  const lookup = (name: string): Uint8Array | undefined =>
    files instanceof Map
      ? files.get(name)
      : Object.hasOwn(files, name)
        ? (files as Readonly<Record<string, Uint8Array>>)[name]
        : undefined;
  if (!lookup(CHECKPOINT_FILES.config)) {
    throw new CheckpointNotFoundError(
      `${where} is not a hierglow checkpoint: it has no ${CHECKPOINT_FILES.config}`,
    );
  }
  return decodeCheckpoint(
    {
      where,
      read: async (name) => {
        const bytes = lookup(name);
        if (!bytes) {
          throw new CheckpointCorruptError(
            `${joinName(where, name)}: listed in ${CHECKPOINT_FILES.config} but not among the files given`,
          );
        }
        return bytes;
      },
    },
    options,
  );
}

/** Options of {@link loadCheckpointFromUrl} and {@link restoreModelFromUrl}. */
export interface CheckpointUrlOptions extends CheckpointReadOptions {
  /** The fetch to use (default `globalThis.fetch`); tests and service workers pass their own. */
  fetch?: (url: string) => Promise<Response>;
}

/**
 * Loads a checkpoint served over HTTP (a checkpoint directory under a static server, or files
 * a page bundles), with exactly the checks of {@link loadCheckpoint}. `url` is the checkpoint's
 * folder; its files are fetched from `<url>/config.json` and the names that file lists.
 *
 * @example
 * const checkpoint = await loadCheckpointFromUrl('/models/fashion/');
 */
export async function loadCheckpointFromUrl(
  url: string | URL,
  options: CheckpointUrlOptions = {},
): Promise<LoadedCheckpoint> {
  const fetchFile = options.fetch ?? ((u: string) => globalThis.fetch(u));
  const folder = String(url).endsWith('/') ? String(url) : `${url}/`;
  const where = folder.slice(0, -1);
  const get = async (name: string): Promise<Response | Error> => {
    try {
      return await fetchFile(`${folder}${name}`);
    } catch (cause) {
      return cause instanceof Error ? cause : new Error(String(cause));
    }
  };
  const config = await get(CHECKPOINT_FILES.config);
  if (config instanceof Error || !config.ok) {
    const why = config instanceof Error ? config.message : `HTTP ${config.status}`;
    throw new CheckpointNotFoundError(
      `No checkpoint at ${where}: ${joinName(where, CHECKPOINT_FILES.config)} cannot be fetched (${why})`,
    );
  }
  const configBytes = new Uint8Array(await config.arrayBuffer());
  return decodeCheckpoint(
    {
      where,
      read: async (name) => {
        if (name === CHECKPOINT_FILES.config) return configBytes;
        const response = await get(name);
        if (response instanceof Error || !response.ok) {
          const why = response instanceof Error ? response.message : `HTTP ${response.status}`;
          throw new CheckpointCorruptError(
            `${joinName(where, name)}: listed in ${CHECKPOINT_FILES.config} but cannot be fetched (${why})`,
          );
        }
        return new Uint8Array(await response.arrayBuffer());
      },
    },
    options,
  );
}

/** Where a checkpoint's files come from: a directory or bytes in memory. */
export interface CheckpointSource {
  /** The directory, URL or name of bytes: file names are joined to it in messages. */
  where: string;
  /** A file's bytes; throws a {@link CheckpointCorruptError} naming the file when absent. */
  read(name: string): Promise<Uint8Array>;
}

/** The one validation path of every loader: config, sizes and checksums, tensors. */
export async function decodeCheckpoint(
  source: CheckpointSource,
  options: CheckpointReadOptions = {},
): Promise<LoadedCheckpoint> {
  const wanted = (name: string) =>
    name !== CHECKPOINT_FILES.optimizer || options.optimizerState !== false;
  const root = source.where;
  const configPath = joinName(root, CHECKPOINT_FILES.config);
  const config = parseConfig(
    new TextDecoder().decode(await source.read(CHECKPOINT_FILES.config)),
    configPath,
  );
  const files: Record<string, Uint8Array> = {};
  for (const [name, digest] of Object.entries(config.files)) {
    if (!wanted(name)) continue;
    files[name] = verified(await source.read(name), joinName(root, name), digest);
  }
  const modelBytes = files[CHECKPOINT_FILES.model];
  if (!modelBytes) {
    throw new CheckpointCorruptError(
      `${configPath}: lists no ${CHECKPOINT_FILES.model}; the checkpoint has no weights`,
    );
  }
  const tensors: Record<string, tf.Tensor> = {};
  const owned: tf.Tensor[] = [];
  try {
    const modelPath = joinName(root, CHECKPOINT_FILES.model);
    const decoded = decodeSafetensors(modelBytes, modelPath);
    for (const [name, entry] of Object.entries(decoded.tensors)) {
      const bad = nonFiniteSummary(entry);
      if (bad) {
        throw new CheckpointCorruptError(
          `${modelPath}: tensor '${name}' ${bad}; the model diverged before this checkpoint was saved and would score every image NaN`,
        );
      }
      tensors[name] = entryToTensor(entry, name, modelPath);
      owned.push(tensors[name]);
    }
    let optimizerState: AdamaxState | undefined;
    const optimizerBytes = files[CHECKPOINT_FILES.optimizer];
    if (optimizerBytes) {
      const path = joinName(root, CHECKPOINT_FILES.optimizer);
      optimizerState = decodeOptimizer(decodeSafetensors(optimizerBytes, path), path);
      owned.push(...Object.values(optimizerState.expAvg), ...Object.values(optimizerState.expInf));
    }
    let trainingState: TrainingState | undefined;
    const stateBytes = files[CHECKPOINT_FILES.trainingState];
    if (stateBytes)
      trainingState = parseTrainingState(
        stateBytes,
        joinName(root, CHECKPOINT_FILES.trainingState),
      );
    const result: LoadedCheckpoint = {
      dir: root,
      config,
      tensors,
      dispose: () => tf.dispose(owned),
    };
    if (optimizerState) result.optimizerState = optimizerState;
    if (trainingState) result.trainingState = trainingState;
    return result;
  } catch (e) {
    tf.dispose(owned);
    throw e;
  }
}

function parseConfig(text: string, path: string): CheckpointConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new CheckpointCorruptError(`${path}: not valid JSON (${(cause as Error).message})`, {
      cause,
    });
  }
  const c = value as Partial<CheckpointConfig> | null;
  if (typeof c !== 'object' || c === null || c.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointCorruptError(
      `${path}: not a hierglow checkpoint config (no "format": "${CHECKPOINT_FORMAT}")`,
    );
  }
  if (!Number.isInteger(c.formatVersion) || c.formatVersion! < 1) {
    throw new CheckpointCorruptError(
      `${path}: invalid formatVersion ${JSON.stringify(c.formatVersion)}`,
    );
  }
  if (c.formatVersion! > CHECKPOINT_FORMAT_VERSION) {
    throw new CheckpointMismatchError(
      `${path}: checkpoint format version ${c.formatVersion} is newer than this hierglow reads (${CHECKPOINT_FORMAT_VERSION}); upgrade @hierglow/glow`,
    );
  }
  if (typeof c.model !== 'object' || c.model === null || typeof c.model.kind !== 'string') {
    throw new CheckpointCorruptError(`${path}: "model" must be an object with a string "kind"`);
  }
  if (typeof c.files !== 'object' || c.files === null) {
    throw new CheckpointCorruptError(
      `${path}: "files" (sizes and checksums of the other files) is missing`,
    );
  }
  for (const [name, d] of Object.entries(c.files)) {
    if (!/^[\w.-]+$/.test(name) || name === CHECKPOINT_FILES.config) {
      throw new CheckpointCorruptError(
        `${path}: invalid file name ${JSON.stringify(name)} in "files"`,
      );
    }
    if (!(Number.isInteger(d?.bytes) && typeof d?.sha256 === 'string')) {
      throw new CheckpointCorruptError(
        `${path}: "files.${name}" needs an integer "bytes" and a "sha256"`,
      );
    }
  }
  return c as CheckpointConfig;
}

/** `bytes` when they have the size and SHA-256 that `config.json` records for `path`. */
function verified(bytes: Uint8Array, path: string, digest: FileDigest): Uint8Array {
  if (bytes.length !== digest.bytes) {
    throw new CheckpointCorruptError(
      `${path}: ${bytes.length} bytes, but ${CHECKPOINT_FILES.config} records ${digest.bytes}: the file is ${
        bytes.length < digest.bytes ? 'truncated' : 'not the one this checkpoint wrote'
      }`,
    );
  }
  if (sha256(bytes) !== digest.sha256) {
    throw new CheckpointCorruptError(
      `${path}: SHA-256 differs from the one in ${CHECKPOINT_FILES.config}: the file is corrupt or was modified`,
    );
  }
  return bytes;
}

function decodeOptimizer(file: SafetensorsFile, path: string): AdamaxState {
  const corrupt = (what: string) => new CheckpointCorruptError(`${path}: ${what}`);
  const { metadata, tensors } = file;
  if (metadata.optimizer !== 'adamax')
    throw corrupt(`optimizer ${JSON.stringify(metadata.optimizer)} is not 'adamax'`);
  let steps: Record<string, number>;
  let options: Required<AdamaxOptions>;
  try {
    steps = JSON.parse(metadata.steps ?? '');
    options = JSON.parse(metadata.options ?? '');
  } catch {
    throw corrupt("the 'steps' or 'options' metadata is not valid JSON");
  }
  const iterations = Number(metadata.iterations);
  if (!Number.isInteger(iterations) || iterations < 0)
    throw corrupt(`invalid 'iterations' ${metadata.iterations}`);
  const expAvg: Record<string, tf.Tensor> = {};
  const expInf: Record<string, tf.Tensor> = {};
  const expected = new Set<string>();
  for (const name of Object.keys(steps)) {
    for (const [prefix, into] of [
      ['exp_avg', expAvg],
      ['exp_inf', expInf],
    ] as const) {
      const key = `${prefix}.${name}`;
      const entry = tensors[key];
      if (!entry) throw corrupt(`tensor '${key}' is missing`);
      expected.add(key);
      into[name] = entryToTensor(entry, key, path);
    }
  }
  const extra = Object.keys(tensors).filter((k) => !expected.has(k));
  if (extra.length > 0) {
    tf.dispose([...Object.values(expAvg), ...Object.values(expInf)]);
    throw corrupt(`unexpected tensors ${extra.slice(0, 5).join(', ')}`);
  }
  return { iterations, steps, expAvg, expInf, options };
}

function parseTrainingState(bytes: Uint8Array, path: string): TrainingState {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new CheckpointCorruptError(`${path}: not valid JSON (${(cause as Error).message})`, {
      cause,
    });
  }
  const problem = trainingStateProblem(value);
  if (problem) throw new CheckpointCorruptError(`${path}: ${problem}`);
  return value as TrainingState;
}

/**
 * Copies a checkpoint's weights into `model`. The model kind must match, and every variable
 * must be present with the same shape (no extras): a mismatched checkpoint never half-loads.
 * Errors are {@link CheckpointMismatchError}s naming the checkpoint file and the tensor.
 */
export function loadModelWeights(model: TrainableModel, checkpoint: LoadedCheckpoint): void {
  const modelPath = joinName(checkpoint.dir, CHECKPOINT_FILES.model);
  const have = checkpoint.config.model.kind;
  const want = model.getConfig().kind;
  if (have !== want) {
    throw new CheckpointMismatchError(
      `${joinName(checkpoint.dir, CHECKPOINT_FILES.config)}: the checkpoint holds a '${have}' model, not a '${want}'`,
    );
  }
  const target = model.variables();
  const values = checkpoint.tensors;
  const missing = Object.keys(target).filter((k) => !(k in values));
  const extra = Object.keys(values).filter((k) => !(k in target));
  if (missing.length > 0) {
    throw new CheckpointMismatchError(
      `${modelPath}: missing tensor${missing.length > 1 ? 's' : ''} ${list(missing)} that the model needs; the checkpoint is of a different architecture`,
    );
  }
  if (extra.length > 0) {
    throw new CheckpointMismatchError(
      `${modelPath}: unexpected tensor${extra.length > 1 ? 's' : ''} ${list(extra)}; the checkpoint is of a different architecture`,
    );
  }
  for (const [name, v] of Object.entries(target)) {
    const t = values[name]!;
    if (!tf.util.arraysEqual(v.shape, t.shape)) {
      throw new CheckpointMismatchError(
        `${modelPath}: tensor '${name}' has shape [${t.shape}], the model expects [${v.shape}]`,
      );
    }
    if (t.dtype !== v.dtype) {
      throw new CheckpointMismatchError(
        `${modelPath}: tensor '${name}' is ${t.dtype}, the model expects ${v.dtype}`,
      );
    }
  }
  for (const [name, v] of Object.entries(target)) v.assign(values[name]!);
}

/** A file of a checkpoint as messages name it: '<dir or name>/<file>'. */
export function joinName(where: string, name: string): string {
  return where.endsWith('/') ? `${where}${name}` : `${where}/${name}`;
}

function list(names: string[]): string {
  return (
    names
      .slice(0, 5)
      .map((n) => `'${n}'`)
      .join(', ') + (names.length > 5 ? `, ... (${names.length} in all)` : '')
  );
}

/** A model rebuilt from a checkpoint, with the optimizer and training state for resuming. */
export interface RestoredModel<M extends TrainableModel> {
  model: M;
  config: CheckpointConfig;
  /** Owned by the caller (pass to `Adamax.setState`, then dispose). */
  optimizerState?: AdamaxState;
  trainingState?: TrainingState;
}

/**
 * {@link restoreModel} from a checkpoint's files in memory (see {@link loadCheckpointFromBytes}).
 *
 * @example
 * const { model } = await restoreModelFromBytes(files, createModel, { name: 'fashion' });
 */
export async function restoreModelFromBytes<M extends TrainableModel>(
  files: CheckpointBytes,
  factory: ModelFactory<M>,
  options: CheckpointBytesOptions = {},
): Promise<RestoredModel<M>> {
  return restoreFrom(await loadCheckpointFromBytes(files, options), factory);
}

/**
 * {@link restoreModel} from a checkpoint served over HTTP (see {@link loadCheckpointFromUrl}).
 *
 * @example
 * const { model } = await restoreModelFromUrl('/models/fashion/', createModel);
 */
export async function restoreModelFromUrl<M extends TrainableModel>(
  url: string | URL,
  factory: ModelFactory<M>,
  options: CheckpointUrlOptions = {},
): Promise<RestoredModel<M>> {
  return restoreFrom(await loadCheckpointFromUrl(url, options), factory);
}

/** Rebuilds a model from a loaded checkpoint; the one end of every restore. */
export function restoreFrom<M extends TrainableModel>(
  checkpoint: LoadedCheckpoint,
  factory: ModelFactory<M>,
): RestoredModel<M> {
  let model: M | undefined;
  try {
    try {
      model = factory(checkpoint.config.model, joinName(checkpoint.dir, CHECKPOINT_FILES.config));
    } catch (cause) {
      throw new CheckpointMismatchError(
        `${joinName(checkpoint.dir, CHECKPOINT_FILES.config)}: cannot build a '${checkpoint.config.model.kind}' model from its config (${(cause as Error).message})`,
        { cause },
      );
    }
    loadModelWeights(model, checkpoint);
  } catch (e) {
    model?.dispose();
    checkpoint.dispose();
    throw e;
  }
  tf.dispose(Object.values(checkpoint.tensors));
  const result: RestoredModel<M> = { model, config: checkpoint.config };
  if (checkpoint.optimizerState) result.optimizerState = checkpoint.optimizerState;
  if (checkpoint.trainingState) result.trainingState = checkpoint.trainingState;
  return result;
}
