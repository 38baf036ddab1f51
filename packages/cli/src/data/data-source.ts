import {
  batchIterator,
  createRng,
  DatasetError,
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
}

/** Seed of the random subset `--limit` takes: fixed, so that runs compare on the same images. */
export const LIMIT_SEED = 20191120;

/** The indices of a seeded random subset of `limit` of `count` images, in ascending order. */
export function limitIndices(count: number, limit: number, seed = LIMIT_SEED): Int32Array {
  const order = randomPermutation(count, createRng(seed));
  return Int32Array.from(order.subarray(0, limit)).sort();
}

/**
 * Opens the dataset a flag names (catalogue name or path) and, with `limit`, keeps its first
 * images. Dataset errors become one line that names the flag.
 */
export async function openDataRef(ref: DataRef): Promise<ImageDataset> {
  let ds: ImageDataset;
  try {
    ds = await openDataset(ref.source, { split: ref.split });
  } catch (e) {
    if (DatasetError.isInstance(e))
      throw new UsageError(`${ref.flag ? `--${ref.flag}: ` : ''}${(e as Error).message}`, 1);
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
