import { createRng, deriveSeed, randomPermutation } from '@hierglow/random';
import { InvalidArgumentError } from '../errors.js';
import type { ImageDataset } from '../image-dataset.js';
import { type TransformOptions, transformBatch, transformShape } from './transforms.js';

/** One batch of model input. */
export interface Batch {
  /** Float32 NHWC values, `x = v/256 − 0.5 (+ noise)`, shape `shape`. */
  x: Float32Array;
  /** [batch, height, width, channels]. */
  shape: [number, number, number, number];
  /** Labels of the images, when the dataset has them. */
  labels?: Int32Array;
  /** Dataset indices of the images. */
  indices: Int32Array;
  epoch: number;
  /** Position in the epoch (0-based). */
  step: number;
}

/** Where an iteration starts; a checkpoint stores the position after the last consumed batch. */
export interface BatchPosition {
  epoch: number;
  step: number;
}

/** Options of {@link batchIterator}. */
export interface BatchIteratorOptions {
  batchSize: number;
  transform: TransformOptions;
  /** Seed of the shuffling and of the random transforms. */
  seed: number;
  /** Shuffle the order every epoch (default true). */
  shuffle?: boolean;
  /** Skip the last, incomplete batch of an epoch (default: true when shuffling). */
  dropLast?: boolean;
  /** Batches read and transformed ahead of the consumer (default 4; memory = that many batches). */
  prefetch?: number;
  /** Epochs to run, counted from `start.epoch` (default 1; Infinity runs until the consumer stops). */
  epochs?: number;
  /** Start position (default epoch 0, step 0). */
  start?: BatchPosition;
}

/** Number of batches in one epoch. */
export function stepsPerEpoch(count: number, batchSize: number, dropLast: boolean): number {
  return dropLast ? Math.floor(count / batchSize) : Math.ceil(count / batchSize);
}

const SHUFFLE_STREAM = 0;
const TRANSFORM_STREAM = 1;

/**
 * Batches of model input from a dataset: shuffled per epoch with a fixed seed, transformed
 * (spec 2), prefetched through a bounded queue.
 *
 * Reproducible and resumable: the order of epoch e comes from `(seed, e)` only and the random
 * transforms of batch (e, s) from `(seed, e, s)` only, so starting at `{ epoch, step }` yields
 * exactly the batches an uninterrupted run would have yielded from there.
 *
 * Memory is bounded by `prefetch + 1` batches plus the epoch's index order (4 bytes per image),
 * whatever the dataset's size: on-disk datasets are read batch by batch.
 */
export async function* batchIterator(
  dataset: ImageDataset,
  options: BatchIteratorOptions,
): AsyncGenerator<Batch> {
  const { batchSize, seed } = options;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidArgumentError(
      `${dataset.description}: batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  if (!Number.isInteger(seed))
    throw new InvalidArgumentError(`seed must be an integer, got ${seed}`);
  const shuffle = options.shuffle ?? true;
  const dropLast = options.dropLast ?? shuffle;
  const prefetch = options.prefetch ?? 4;
  if (!Number.isInteger(prefetch) || prefetch < 1) {
    throw new InvalidArgumentError(`prefetch must be a positive integer, got ${prefetch}`);
  }
  const shape = transformShape(dataset, options.transform);
  const steps = stepsPerEpoch(dataset.count, batchSize, dropLast);
  if (steps === 0) {
    throw new InvalidArgumentError(
      `${dataset.description}: ${dataset.count} images make no ${dropLast ? 'complete ' : ''}batch of ${batchSize}`,
    );
  }
  const start = options.start ?? { epoch: 0, step: 0 };
  if (
    !Number.isInteger(start.epoch) ||
    start.epoch < 0 ||
    !Number.isInteger(start.step) ||
    start.step < 0 ||
    start.step > steps
  ) {
    throw new InvalidArgumentError(
      `start ${JSON.stringify(start)} is not a position in epochs of ${steps} steps`,
    );
  }
  const endEpoch = start.epoch + (options.epochs ?? 1);

  const orders = new Map<number, Int32Array | null>();
  const orderOf = (epoch: number): Int32Array | null => {
    if (!orders.has(epoch)) {
      for (const e of orders.keys()) if (e < epoch - 1) orders.delete(e);
      orders.set(
        epoch,
        shuffle
          ? randomPermutation(dataset.count, createRng(deriveSeed(seed, SHUFFLE_STREAM, epoch)))
          : null,
      );
    }
    return orders.get(epoch)!;
  };

  const make = async (epoch: number, step: number): Promise<Batch> => {
    const from = step * batchSize;
    const n = Math.min(batchSize, dataset.count - from);
    const order = orderOf(epoch);
    const indices = new Int32Array(n);
    for (let i = 0; i < n; i++) indices[i] = order ? order[from + i]! : from + i;
    const images = await dataset.gather(indices);
    const rng = createRng(deriveSeed(seed, TRANSFORM_STREAM, epoch, step));
    const x = transformBatch(images, options.transform, rng);
    const batch: Batch = {
      x,
      shape: [n, shape.height, shape.width, shape.channels],
      indices,
      epoch,
      step,
    };
    if (images.labels) batch.labels = images.labels;
    return batch;
  };

  // Positions in order; the queue holds at most `prefetch` batches being read or ready.
  let epoch = start.epoch;
  let step = start.step;
  if (step === steps) {
    epoch++;
    step = 0;
  }
  const queue: Promise<Batch>[] = [];
  const fill = () => {
    while (queue.length < prefetch && epoch < endEpoch) {
      const p = make(epoch, step);
      p.catch(() => {}); // surfaced when awaited; avoid an unhandled rejection meanwhile
      queue.push(p);
      if (++step === steps) {
        step = 0;
        epoch++;
      }
    }
  };
  try {
    fill();
    while (queue.length > 0) {
      const batch = await queue.shift()!;
      fill();
      yield batch;
    }
  } finally {
    // The consumer stopped early or a read failed: let in-flight reads finish before returning,
    // so the caller can close the dataset safely.
    await Promise.allSettled(queue);
  }
}

/**
 * Evaluation batches: dataset order, no shuffling, the last batch may be smaller (spec: batch
 * 512, bin-centre values). Pass `transform` from `specTransform(name, 'eval')`.
 *
 * `firstBatch` starts at that batch (images from `firstBatch·batchSize` on): the batches, noise
 * included, are exactly those a pass from the start yields there, so a dataset scored in pieces
 * that begin on batch boundaries gives the numbers of one pass.
 */
export function evalBatches(
  dataset: ImageDataset,
  options: {
    batchSize?: number;
    transform: TransformOptions;
    seed?: number;
    prefetch?: number;
    firstBatch?: number;
  },
): AsyncGenerator<Batch> {
  return batchIterator(dataset, {
    batchSize: options.batchSize ?? 512,
    transform: options.transform,
    seed: options.seed ?? 20191120,
    shuffle: false,
    dropLast: false,
    ...(options.prefetch !== undefined ? { prefetch: options.prefetch } : {}),
    ...(options.firstBatch !== undefined ? { start: { epoch: 0, step: options.firstBatch } } : {}),
  });
}
