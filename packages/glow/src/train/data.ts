import { ConfigError, ShapeError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';

/**
 * One batch of NHWC images as a data stream yields it. `x` is either a flat Float32Array of
 * `shape` (as @hierglow/datasets produces: `x = v/256 − 0.5 + noise`) or a Tensor4D, which the
 * trainer takes ownership of and disposes after use. `labels`, if any, have the batch as their
 * first axis (a flat typed array is split evenly per example) and are passed to extra losses.
 */
export interface TrainingBatch {
  x: Float32Array | tf.Tensor4D;
  shape: readonly [number, number, number, number];
  labels?: Float32Array | Int32Array | tf.Tensor;
}

/** Which pass over a data set to produce. */
export interface DataPass {
  /** Pass number: the epoch for the training stream, the refill count for an auxiliary stream. */
  epoch: number;
  /** Seed for this pass's order and noise: {@link passSeed} of the run seed and `epoch`. */
  seed: number;
}

/**
 * A data set the trainer can iterate: called once per pass, it returns that pass's batches.
 * It must be deterministic in `(epoch, seed)`, so a resumed run sees the same batches.
 */
export type DataStream = (pass: DataPass) => AsyncIterable<TrainingBatch> | Iterable<TrainingBatch>;

/**
 * The seed of pass `epoch` of a run seeded with `seed`: a 32-bit mix of both, so every epoch
 * gets its own order and noise and the same epoch always gets the same.
 */
export function passSeed(seed: number, epoch: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (epoch + 0x7f4a7c15), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** The images of a batch as a Tensor4D (a new tensor for Float32Array input), checked against `shape`. */
export function batchImages(batch: TrainingBatch, where: string): tf.Tensor4D {
  const { x, shape } = batch;
  if (
    !Array.isArray(shape) ||
    shape.length !== 4 ||
    !shape.every((d) => Number.isInteger(d) && d > 0)
  ) {
    throw new ShapeError(
      `${where}: 'shape' must be [batch, height, width, channels] (NHWC), got ${JSON.stringify(shape)}`,
    );
  }
  if (x instanceof Float32Array) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (x.length !== size) {
      throw new ShapeError(
        `${where}: ${x.length} values for NHWC shape [${shape}] (needs ${size})`,
      );
    }
    return tf.tensor4d(x, [...shape] as [number, number, number, number], 'float32');
  }
  if (x instanceof tf.Tensor) {
    if (x.rank !== 4 || !tf.util.arraysEqual(x.shape, [...shape])) {
      throw new ShapeError(
        `${where}: tensor of shape [${x.shape}] does not match the stated NHWC shape [${shape}]`,
      );
    }
    return x;
  }
  throw new ConfigError(`${where}: 'x' must be a Float32Array or a tf.Tensor4D`);
}

/** The labels of a batch as a tensor with the batch as first axis, or undefined. */
export function batchLabels(batch: TrainingBatch, where: string): tf.Tensor | undefined {
  const { labels, shape } = batch;
  if (labels === undefined) return undefined;
  const n = shape[0];
  if (labels instanceof tf.Tensor) {
    if (labels.shape[0] !== n) {
      throw new ShapeError(`${where}: labels have ${labels.shape[0]} rows for a batch of ${n}`);
    }
    return labels;
  }
  if (labels.length % n !== 0) {
    throw new ShapeError(
      `${where}: ${labels.length} label values do not split evenly over a batch of ${n}`,
    );
  }
  const per = labels.length / n;
  const dtype = labels instanceof Int32Array ? 'int32' : 'float32';
  return per === 1 ? tf.tensor1d(labels, dtype) : tf.tensor2d(labels, [n, per], dtype);
}

/**
 * Iterates a stream pass by pass, one batch at a time, starting at a given position and
 * counting where it is: what resuming needs.
 */
export class StreamCursor {
  private iterator: AsyncIterator<TrainingBatch> | Iterator<TrainingBatch> | null = null;

  constructor(
    private readonly stream: DataStream,
    private readonly seed: number,
    /** Current pass. */
    public pass = 0,
    /** Batches of the current pass consumed. */
    public batchInPass = 0,
  ) {}

  /** Opens the current pass and skips the batches already consumed (they are generated and dropped). */
  private async open(): Promise<void> {
    const source = this.stream({ epoch: this.pass, seed: passSeed(this.seed, this.pass) });
    this.iterator =
      Symbol.asyncIterator in source
        ? (source as AsyncIterable<TrainingBatch>)[Symbol.asyncIterator]()
        : (source as Iterable<TrainingBatch>)[Symbol.iterator]();
    for (let i = 0; i < this.batchInPass; i++) {
      const r = await this.iterator.next();
      if (r.done) {
        throw new ConfigError(
          `data stream pass ${this.pass} ended after ${i} batches, but the resumed run had consumed ${this.batchInPass}: the stream is not the one the run started with`,
        );
      }
      disposeBatch(r.value);
    }
  }

  /** The next batch of the current pass, or null at its end (then call {@link nextPass}). */
  async next(): Promise<TrainingBatch | null> {
    if (!this.iterator) await this.open();
    const r = await this.iterator!.next();
    if (r.done) return null;
    this.batchInPass += 1;
    return r.value;
  }

  /** Moves to the start of the next pass. */
  async nextPass(): Promise<void> {
    await this.close();
    this.pass += 1;
    this.batchInPass = 0;
  }

  /** The next batch, starting a new pass whenever one ends (for auxiliary streams). */
  async nextCycling(): Promise<TrainingBatch> {
    const b = await this.next();
    if (b) return b;
    const emptyPass = this.batchInPass === 0;
    await this.nextPass();
    const again = await this.next();
    if (!again || emptyPass) throw new ConfigError('auxiliary data stream yields no batches');
    return again;
  }

  /** Ends the current pass early (lets generators run their `finally`). */
  async close(): Promise<void> {
    const it = this.iterator;
    this.iterator = null;
    await it?.return?.();
  }
}

/** Disposes the tensors of a batch that the trainer took ownership of but will not use. */
export function disposeBatch(batch: TrainingBatch): void {
  if (batch.x instanceof tf.Tensor) batch.x.dispose();
  if (batch.labels instanceof tf.Tensor) batch.labels.dispose();
}
