import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join, relative } from 'node:path';
import { type ImageDataset, listImageFiles } from '@hierglow/datasets';
import { CHECKPOINT_FILES } from '@hierglow/glow';
import type { ImageShape } from '../data/data-source.js';
import { VERSION } from '../version.js';

/**
 * What a queued scoring run is: everything a worker needs to score any shard of it, fixed by
 * the submitter. Paths are absolute (workers run elsewhere).
 */
export interface ScoringRun {
  /** Digest of the settings, models and data below: the same command gets the same id. */
  id: string;
  /** TensorFlow.js backend of the submitter; only workers on the same backend take the jobs. */
  backend: string;
  hierglow: string;
  noise: 'bin-centre' | 'uniform' | 'none';
  batchSize: number;
  /** Images per shard, a multiple of `batchSize`. */
  shardSize: number;
  model: CheckpointIdentity;
  general?: CheckpointIdentity;
  shape: ImageShape;
}

/** A checkpoint as the submitter found it: workers load `dir` and must find the same bytes. */
export interface CheckpointIdentity {
  dir: string;
  /** SHA-256 of the checkpoint's config.json and model.safetensors. */
  digest: string;
}

/** One dataset of a run, as the submitter opened it; a worker must open the same images. */
export interface DataIdentity {
  name: string;
  /** The flag that named it (for messages). */
  flag: string;
  /** Absolute path, or a catalogue name. */
  source: string;
  split: string;
  limit?: number;
  count: number;
  height: number;
  width: number;
  channels: number;
  /** SHA-256 of the labels (null: unlabelled). */
  labels: string | null;
  /** For a folder of images: SHA-256 of its sorted file list (relative paths). */
  files?: string;
}

/** The files of one shard of a folder of images, so a worker can tell the folder changed. */
export interface ShardFiles {
  first: string;
  last: string;
  /** SHA-256 of the shard's relative paths, one a line. */
  digest: string;
}

/** The payload of one BullMQ job: images [start, end) of one dataset of a run. */
export interface ShardJobData {
  format: typeof SHARD_JOB_FORMAT;
  run: ScoringRun;
  set: DataIdentity;
  setIndex: number;
  shard: number;
  shards: number;
  start: number;
  end: number;
  files?: ShardFiles;
  /** Absolute path of the shard's score file, on storage the submitter reads too. */
  output: string;
}

export const SHARD_JOB_FORMAT = 'hierglow-score-shard-v1';

/** The BullMQ queue of a backend's scoring jobs (a worker listens on its own backend's queue). */
export function queueName(backend: string): string {
  return `hierglow-score-${backend}`;
}

/** Deterministic job id: submitting the same run again finds its jobs instead of adding new ones. */
export function shardJobId(runId: string, setIndex: number, shard: number): string {
  return `${runId}-${setIndex}-${shard}`;
}

/** Where a shard's scores go: `<shardDir>/<run id>/<set>/<shard>.json`. */
export function shardPath(shardDir: string, runId: string, set: string, shard: number): string {
  return join(shardDir, runId, set, `${String(shard).padStart(6, '0')}.json`);
}

/** Cuts `count` images into shards of `shardSize` (the last one may be shorter). */
export function planShards(
  count: number,
  shardSize: number,
): { shard: number; start: number; end: number }[] {
  const shards: { shard: number; start: number; end: number }[] = [];
  for (let start = 0, shard = 0; start < count; start += shardSize, shard++) {
    shards.push({ shard, start, end: Math.min(count, start + shardSize) });
  }
  return shards;
}

function sha256(parts: Iterable<string | Uint8Array>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

/** SHA-256 of a checkpoint's config and weights (streamed: weights can be large). */
export async function checkpointDigest(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const file of [CHECKPOINT_FILES.config, CHECKPOINT_FILES.model]) {
    for await (const chunk of createReadStream(join(dir, file))) h.update(chunk as Buffer);
  }
  return h.digest('hex');
}

/**
 * The relative paths of a folder-of-images dataset's files in dataset order (its first `count`,
 * after `--limit`), or null for other formats, whose images are addressed by index only.
 */
export async function folderFiles(ds: ImageDataset): Promise<string[] | null> {
  if (ds.provenance.format !== 'image-folder') return null;
  const root = ds.provenance.sources[0];
  if (root === undefined) return null;
  const files = await listImageFiles(root);
  return files.slice(0, ds.count).map((f) => relative(root, f));
}

/** The identity of an opened dataset (see {@link DataIdentity}). */
export function dataIdentity(
  ds: ImageDataset,
  ref: { name: string; flag: string; source: string; split: string; limit?: number },
  files: string[] | null,
): DataIdentity {
  const id: DataIdentity = {
    name: ref.name,
    flag: ref.flag,
    source: ref.source,
    split: ref.split,
    count: ds.count,
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    labels: ds.labels
      ? sha256([new Uint8Array(ds.labels.buffer, ds.labels.byteOffset, ds.labels.byteLength)])
      : null,
  };
  if (ref.limit !== undefined) id.limit = ref.limit;
  if (files) id.files = sha256(files.map((f) => `${f}\n`));
  return id;
}

/** The files of images [start, end) of a folder (see {@link ShardFiles}). */
export function shardFiles(files: string[], start: number, end: number): ShardFiles {
  const mine = files.slice(start, end);
  return {
    first: mine[0]!,
    last: mine[mine.length - 1]!,
    digest: sha256(mine.map((f) => `${f}\n`)),
  };
}

/**
 * What makes one run differ from another, its shard folder included (the same command writes to
 * the same place); its digest is the run id.
 */
export function runId(
  run: Omit<ScoringRun, 'id' | 'hierglow'>,
  sets: DataIdentity[],
  shardDir: string,
): string {
  const key = {
    hierglow: VERSION,
    shardDir,
    backend: run.backend,
    noise: run.noise,
    batchSize: run.batchSize,
    shardSize: run.shardSize,
    model: run.model.digest,
    general: run.general?.digest ?? null,
    sets: sets.map(({ flag: _flag, ...set }) => set),
  };
  return sha256([JSON.stringify(key)]).slice(0, 16);
}
