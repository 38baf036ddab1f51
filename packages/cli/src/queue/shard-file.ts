import { readFile } from 'node:fs/promises';
import type { DatasetOutputs, ModelOutputs } from '../scoring/score-dataset.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UsageError } from '../util/errors.js';

/**
 * A shard's scores on shared storage: which run, set and images they are, and every per-image
 * array of {@link DatasetOutputs} as the exact bytes of its typed array (base64, little-endian),
 * so the merged arrays equal a whole run's bit for bit.
 */
interface ShardFileContents {
  format: typeof SHARD_FILE_FORMAT;
  runId: string;
  set: string;
  shard: number;
  start: number;
  end: number;
  /** Who scored it (host and process), for the curious. */
  scoredBy: string;
  arrays: Record<string, { type: 'f64' | 'i32'; data: string }>;
}

const SHARD_FILE_FORMAT = 'hierglow-scores-shard-v1';

/** The images a shard file must hold. */
export interface ShardKey {
  runId: string;
  set: string;
  shard: number;
  start: number;
  end: number;
}

function encodeArray(a: Float64Array | Int32Array) {
  const bytes = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  return {
    type: a instanceof Float64Array ? ('f64' as const) : ('i32' as const),
    data: bytes.toString('base64'),
  };
}

function modelArrays(prefix: string, m: ModelOutputs, into: ShardFileContents['arrays']) {
  into[`${prefix}.logP`] = encodeArray(m.logP);
  into[`${prefix}.bitsPerDim`] = encodeArray(m.bitsPerDim);
  m.perScale.forEach((lp, k) => {
    into[`${prefix}.perScale.${k}`] = encodeArray(lp);
  });
  if (m.predictedClass) into[`${prefix}.predictedClass`] = encodeArray(m.predictedClass);
}

/** Writes a shard's outputs atomically (temporary sibling, then rename): a killed worker leaves no partial file. */
export async function writeShardFile(
  path: string,
  key: ShardKey,
  outputs: DatasetOutputs,
  scoredBy: string,
): Promise<void> {
  const arrays: ShardFileContents['arrays'] = {};
  modelArrays('model', outputs.model, arrays);
  if (outputs.general) modelArrays('general', outputs.general, arrays);
  arrays.complexity = encodeArray(outputs.complexity);
  if (outputs.labels) arrays.labels = encodeArray(outputs.labels);
  const contents: ShardFileContents = { format: SHARD_FILE_FORMAT, ...key, scoredBy, arrays };
  await writeFileAtomic(path, JSON.stringify(contents));
}

/** Reads a shard file and checks it holds exactly the images of `key`; errors name the file. */
export async function readShardFile(path: string, key: ShardKey): Promise<DatasetOutputs> {
  const bad = (why: string) =>
    new UsageError(`${path}: ${why}; delete it and submit again to rescore that shard`, 1);
  let c: ShardFileContents;
  try {
    c = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code) throw e;
    throw bad(`not a shard file (${(e as Error).message})`);
  }
  if (c?.format !== SHARD_FILE_FORMAT) throw bad('not a hierglow scores shard');
  for (const field of ['runId', 'set', 'shard', 'start', 'end'] as const) {
    if (c[field] !== key[field]) {
      throw bad(
        `holds ${field} ${JSON.stringify(c[field])}, expected ${JSON.stringify(key[field])}`,
      );
    }
  }
  const n = key.end - key.start;
  const decode = (name: string, type: 'f64' | 'i32') => {
    const a = c.arrays[name];
    if (!a || a.type !== type) throw bad(`has no ${type} array '${name}'`);
    const bytes = Buffer.from(a.data, 'base64');
    const width = type === 'f64' ? 8 : 4;
    if (bytes.length !== n * width)
      throw bad(`'${name}' holds ${bytes.length / width} values, not ${n}`);
    // Copy into an aligned buffer of its own: the decoded bytes may start at any offset.
    const copy = new Uint8Array(bytes);
    return type === 'f64' ? new Float64Array(copy.buffer) : new Int32Array(copy.buffer);
  };
  const model = (prefix: string): ModelOutputs | undefined => {
    if (!c.arrays[`${prefix}.logP`]) return undefined;
    const perScale: Float64Array[] = [];
    for (let k = 0; c.arrays[`${prefix}.perScale.${k}`]; k++) {
      perScale.push(decode(`${prefix}.perScale.${k}`, 'f64') as Float64Array);
    }
    const m: ModelOutputs = {
      logP: decode(`${prefix}.logP`, 'f64') as Float64Array,
      bitsPerDim: decode(`${prefix}.bitsPerDim`, 'f64') as Float64Array,
      perScale,
    };
    if (c.arrays[`${prefix}.predictedClass`]) {
      m.predictedClass = decode(`${prefix}.predictedClass`, 'i32') as Int32Array;
    }
    return m;
  };
  const main = model('model');
  if (!main) throw bad("has no 'model.logP'");
  const outputs: DatasetOutputs = {
    model: main,
    complexity: decode('complexity', 'f64') as Float64Array,
    count: n,
  };
  const general = model('general');
  if (general) outputs.general = general;
  if (c.arrays.labels) outputs.labels = decode('labels', 'i32') as Int32Array;
  return outputs;
}

function concatArrays<T extends Float64Array | Int32Array>(parts: T[], make: (n: number) => T): T {
  const out = make(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function concatModels(parts: ModelOutputs[]): ModelOutputs {
  const first = parts[0]!;
  const f64 = (n: number) => new Float64Array(n);
  const m: ModelOutputs = {
    logP: concatArrays(
      parts.map((p) => p.logP),
      f64,
    ),
    bitsPerDim: concatArrays(
      parts.map((p) => p.bitsPerDim),
      f64,
    ),
    perScale: first.perScale.map((_, k) =>
      concatArrays(
        parts.map((p) => p.perScale[k]!),
        f64,
      ),
    ),
  };
  if (first.predictedClass) {
    m.predictedClass = concatArrays(
      parts.map((p) => p.predictedClass!),
      (n) => new Int32Array(n),
    );
  }
  return m;
}

/**
 * The outputs of a whole dataset from its shards' outputs in image order (the caller has checked
 * that the shards tile the dataset). All shards must carry the same arrays.
 */
export function concatOutputs(parts: DatasetOutputs[], where: string): DatasetOutputs {
  const first = parts[0];
  if (!first) throw new UsageError(`${where}: no shards to merge`, 1);
  const shape = (o: DatasetOutputs) =>
    JSON.stringify([
      o.model.perScale.length,
      Boolean(o.model.predictedClass),
      o.general?.perScale.length ?? null,
      Boolean(o.labels),
    ]);
  for (const p of parts) {
    if (shape(p) !== shape(first)) {
      throw new UsageError(`${where}: shards disagree on the scores they hold`, 1);
    }
  }
  const merged: DatasetOutputs = {
    model: concatModels(parts.map((p) => p.model)),
    complexity: concatArrays(
      parts.map((p) => p.complexity),
      (n) => new Float64Array(n),
    ),
    count: parts.reduce((s, p) => s + p.count, 0),
  };
  if (first.general) merged.general = concatModels(parts.map((p) => p.general!));
  if (first.labels) {
    merged.labels = concatArrays(
      parts.map((p) => p.labels!),
      (n) => new Int32Array(n),
    );
  }
  return merged;
}
