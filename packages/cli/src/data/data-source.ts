import { existsSync } from 'node:fs';
import { basename, extname } from 'node:path';
import {
  batchIterator,
  createRng,
  DatasetError,
  type DatasetRemedy,
  type ImageDataset,
  openDataset,
  randomPermutation,
  subsetDataset,
  type TransformOptions,
  transformShape,
} from '@hierglow/datasets';
import type { DataStream, TrainingBatch } from '@hierglow/glow';
import { UsageError } from '../util/errors.js';

/** `[height, width, channels]` of the images a model takes (NHWC). */
export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

/**
 * Training augmentation (spec 2.2). 'auto' picks the spec's choice for the data: random
 * translation by up to 10 % everywhere, plus horizontal flips except for digit-like and
 * clothing data (IDX files: MNIST, Fashion-MNIST, EMNIST; SVHN), which the reference never flips.
 */
export const AUGMENT_MODES = ['auto', 'translate-flip', 'translate', 'none'] as const;
/** One of {@link AUGMENT_MODES}. */
export type AugmentMode = (typeof AUGMENT_MODES)[number];

/** Where a dataset flag points: the flag's name (for messages), the value, split and limit. */
export interface DataRef {
  /** The flag that named the dataset, for messages ('' for a positional argument). */
  flag: string;
  source: string;
  split: string;
  /**
   * Use only `limit` images (quick runs, tests): a random subset drawn with {@link LIMIT_SEED},
   * never the first ones (files sorted by class would bias them), kept in file order.
   */
  limit?: number;
  /** Read the images without their labels (`--ignore-labels`). */
  ignoreLabels?: boolean;
}

/** The flag that picks the split of the dataset a flag names; `@SPLIT` for the others. */
const SPLIT_FLAGS: Record<string, string> = {
  '': 'split',
  data: 'split',
  'eval-data': 'eval-split',
  'outlier-data': 'outlier-split',
  photos: 'photos-split',
};

/** A dataset error's remedy in the CLI's terms: the command or flag to use. */
function cliAdvice(ref: DataRef, remedy: DatasetRemedy): string {
  switch (remedy.kind) {
    case 'download': {
      const apt = remedy.debianPackages.length
        ? ` or 'apt install ${remedy.debianPackages.join(' ')}'`
        : '';
      const npm = remedy.npmPackages.length
        ? ` or 'npm install ${remedy.npmPackages.join(' ')}'`
        : '';
      return `run 'hierglow data download ${remedy.dataset}'${apt}${npm}`;
    }
    case 'other-split': {
      const s = remedy.available[0]!;
      const flag = SPLIT_FLAGS[ref.flag];
      const use = flag ? `--${flag} ${s}` : `${ref.source}@${s}`;
      return `it has ${remedy.available.length > 1 ? 'the splits' : 'only the split'} ${remedy.available.map((a) => `'${a}'`).join(', ')}: use ${use}`;
    }
    case 'ignore-labels':
      return 'add --ignore-labels to read the images without labels (data inspect, data subset, score and evaluate take it)';
  }
}

/**
 * A dataset error as the CLI reports it: one line naming the flag, with the remedy phrased as
 * the command or flag to use (the library's message phrases it as API options).
 */
export function datasetUsageError(ref: DataRef, e: DatasetError): UsageError {
  const message = e.remedy ? `${e.problem}; ${cliAdvice(ref, e.remedy)}` : e.message;
  return new UsageError(`${ref.flag ? `--${ref.flag}: ` : ''}${message}`, 1);
}

/** The split that `data inspect`, `score` and `evaluate` read unless told otherwise. */
export const EVALUATION_SPLIT = 'test';

/** A dataset to score, with the name it has in tables and file names. */
export interface NamedDataRef extends DataRef {
  name: string;
}

/**
 * Parses `[NAME=]SOURCE[@SPLIT]` (e.g. `fashion-mnist@test`, `digits=ood/digits.hgds`): the
 * name defaults to the catalogue name or the file name without extension. A path that exists
 * is taken whole, even when it contains '=' or '@'.
 */
export function parseDataArg(flag: string, arg: string, defaultSplit: string): NamedDataRef {
  let name: string | undefined;
  let rest = arg;
  const eq = rest.indexOf('=');
  // A path that exists is a path, '=' and '@' in it included (also after a NAME=).
  if (eq > 0 && !existsSync(arg)) {
    name = rest.slice(0, eq);
    rest = rest.slice(eq + 1);
  }
  let split = defaultSplit;
  const at = rest.lastIndexOf('@');
  if (at > 0 && !existsSync(rest)) {
    split = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  const given = flag ? `--${flag} '${arg}'` : `'${arg}'`;
  if (!rest) throw new UsageError(`${given} names no dataset; use [NAME=]SOURCE[@SPLIT]`);
  if (name !== undefined && !/^[\w.-]+$/.test(name)) {
    throw new UsageError(`${given}: the name must use letters, digits, '.', '_' or '-'`);
  }
  const base = basename(rest.replace(/[/\\]+$/, ''));
  const derived = base.slice(0, base.length - extname(base).length) || base;
  return { flag, source: rest, split, name: name ?? derived };
}

/** Seed of the random subset `--limit` takes: fixed, so that runs compare on the same images. */
export const LIMIT_SEED = 20191120;

/** The indices of a seeded random subset of `limit` of `count` images, in ascending order. */
export function limitIndices(count: number, limit: number, seed = LIMIT_SEED): Int32Array {
  const order = randomPermutation(count, createRng(seed));
  return Int32Array.from(order.subarray(0, limit)).sort();
}

/**
 * Opens the dataset a flag names (catalogue name or path) and, with `limit`, keeps a seeded
 * random subset of its images. Dataset errors become one line that names the flag.
 */
export async function openDataRef(ref: DataRef): Promise<ImageDataset> {
  let ds: ImageDataset;
  try {
    ds = await openDataset(ref.source, {
      split: ref.split,
      ...(ref.ignoreLabels ? { ignoreLabels: true } : {}),
    });
  } catch (e) {
    if (DatasetError.isInstance(e)) throw datasetUsageError(ref, e);
    throw e;
  }
  if (ds.count === 0) {
    await ds.close();
    throw new UsageError(`--${ref.flag}: ${ds.description} holds no images`, 1);
  }
  if (ref.limit !== undefined && ref.limit < ds.count) {
    return subsetDataset(ds, limitIndices(ds.count, ref.limit), {
      limit: ref.limit,
      limitSeed: LIMIT_SEED,
    });
  }
  return ds;
}

/** Whether the spec's augmentation for this data leaves out horizontal flips (see {@link AUGMENT_MODES}). */
function isNeverFlipped(ds: ImageDataset): boolean {
  const format = ds.provenance.format;
  const catalogue = String(ds.provenance.details?.catalogue ?? '');
  return format === 'idx' || format === 'svhn-mat' || /mnist|svhn/.test(catalogue);
}

/**
 * The transform that brings `ds` to the model's `shape`: resize (Pillow bilinear, spec 2.2: 28x28
 * grey becomes 32x32), RGB → grey when the model is grey, then augmentation and noise.
 */
export function transformFor(
  ds: ImageDataset,
  shape: ImageShape,
  flag: string,
  mode: { augment: AugmentMode; noise: TransformOptions['noise'] },
): TransformOptions {
  if (shape.channels !== ds.channels && !(shape.channels === 1 && ds.channels === 3)) {
    throw new UsageError(
      `--${flag}: ${ds.description} has ${ds.channels}-channel images but the model takes ${shape.channels} channels (only RGB → grey conversion is automatic)`,
      1,
    );
  }
  const augment =
    mode.augment === 'auto' ? (isNeverFlipped(ds) ? 'translate' : 'translate-flip') : mode.augment;
  const options: TransformOptions = {
    size: [shape.height, shape.width],
    noise: mode.noise,
    translate: augment === 'none' ? 0 : 0.1,
    hflip: augment === 'translate-flip',
  };
  if (shape.channels !== ds.channels) options.channels = 1;
  transformShape(ds, options); // checks the combination now, with the flag in the message
  return options;
}

/**
 * A trainer data stream over `ds`: every pass (epoch) is shuffled and augmented from the pass
 * seed only, so a resumed run sees the same batches (spec 6.1: shuffled, drop_last). With
 * `labels`, batches carry the dataset's labels.
 */
export function trainingStream(
  ds: ImageDataset,
  transform: TransformOptions,
  batchSize: number,
  { labels = false }: { labels?: boolean } = {},
): DataStream {
  return async function* ({ seed }) {
    for await (const b of batchIterator(ds, { batchSize, seed, transform, dropLast: true })) {
      const batch: TrainingBatch = { x: b.x, shape: b.shape };
      // Labels only when a loss reads them (the supervised variant): they cost a tensor a step.
      if (labels && b.labels) batch.labels = b.labels;
      yield batch;
    }
  };
}
