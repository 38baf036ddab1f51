import { InvalidArgumentError } from './errors.js';

/**
 * Where a dataset's pixels came from, carried along so that results can be traced back to
 * files, splits and seeds.
 */
export interface Provenance {
  /** Reader or builder that produced the pixels: 'idx', 'cifar10-binary', 'hierglow', ... */
  readonly format: string;
  /** Files the pixels were read from. */
  readonly sources: readonly string[];
  /** Anything else worth keeping: catalogue name, split, selection seeds, builder options. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * A block of 8-bit images in NHWC row-major order: pixel (n, y, x, c) is at
 * `((n·height + y)·width + x)·channels + c`.
 */
export interface ImageBatch {
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** `count·height·width·channels` bytes, NHWC. */
  readonly pixels: Uint8Array;
  /** One class index per image, when the dataset has labels. */
  readonly labels?: Int32Array;
}

/**
 * A random-access collection of same-sized 8-bit images (NHWC), in memory or on disk. On-disk
 * datasets read only what is asked for, so datasets larger than RAM work.
 */
export interface ImageDataset {
  /** Human-readable identity (path and split) used in messages. */
  readonly description: string;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** All labels (small enough to keep in memory even for 80M images), or undefined. */
  readonly labels?: Int32Array;
  /** Number of classes when labels exist (labels are in [0, numClasses)). */
  readonly numClasses?: number;
  /** Class names in label order, when the format provides them. */
  readonly classNames?: readonly string[];
  readonly provenance: Provenance;
  /** Image `index` as a batch of one. */
  get(index: number): Promise<ImageBatch>;
  /** Images `start` (inclusive) to `end` (exclusive). */
  slice(start: number, end: number): Promise<ImageBatch>;
  /** The images at `indices`, in that order (repeats allowed). */
  gather(indices: ArrayLike<number>): Promise<ImageBatch>;
  /** Releases file handles. Further reads fail. */
  close(): Promise<void>;
}

/** Static facts shared by every dataset implementation. */
export interface DatasetShapeInfo {
  description: string;
  count: number;
  height: number;
  width: number;
  channels: number;
  labels?: Int32Array | undefined;
  numClasses?: number | undefined;
  classNames?: readonly string[] | undefined;
  provenance: Provenance;
}

/**
 * Shared implementation of {@link ImageDataset}: subclasses only implement `readRun`, which
 * fills a contiguous range of images; `get`, `slice` and `gather` are built on it.
 */
export abstract class ImageDatasetBase implements ImageDataset {
  readonly description: string;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly labels?: Int32Array;
  readonly numClasses?: number;
  readonly classNames?: readonly string[];
  readonly provenance: Provenance;

  constructor(info: DatasetShapeInfo) {
    this.description = info.description;
    this.count = info.count;
    this.height = info.height;
    this.width = info.width;
    this.channels = info.channels;
    if (info.labels !== undefined) this.labels = info.labels;
    if (info.numClasses !== undefined) this.numClasses = info.numClasses;
    if (info.classNames !== undefined) this.classNames = info.classNames;
    this.provenance = info.provenance;
  }

  /** Bytes of one image. */
  get imageBytes(): number {
    return this.height * this.width * this.channels;
  }

  /** Writes images [start, end) as NHWC into `out` from byte `outOffset`. Range is pre-checked. */
  protected abstract readRun(
    start: number,
    end: number,
    out: Uint8Array,
    outOffset: number,
  ): Promise<void>;

  async get(index: number): Promise<ImageBatch> {
    this.checkIndex(index);
    return this.slice(index, index + 1);
  }

  async slice(start: number, end: number): Promise<ImageBatch> {
    if (
      !Number.isInteger(start) ||
      !Number.isInteger(end) ||
      start < 0 ||
      end > this.count ||
      start > end
    ) {
      throw new InvalidArgumentError(
        `${this.description}: slice(${start}, ${end}) is outside [0, ${this.count}]; pass integers with 0 <= start <= end <= count`,
      );
    }
    const pixels = new Uint8Array((end - start) * this.imageBytes);
    if (end > start) await this.readRun(start, end, pixels, 0);
    return this.batch(pixels, end - start, this.labels?.slice(start, end));
  }

  async gather(indices: ArrayLike<number>): Promise<ImageBatch> {
    const n = indices.length;
    for (let i = 0; i < n; i++) this.checkIndex(indices[i]!);
    const bytes = this.imageBytes;
    const pixels = new Uint8Array(n * bytes);
    // Sort positions by index so neighbouring images are read with one request per run.
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => indices[a]! - indices[b]!);
    const reads: Promise<void>[] = [];
    let k = 0;
    while (k < n) {
      const runStart = indices[order[k]!]!;
      let runEnd = runStart + 1;
      let j = k + 1;
      while (j < n && indices[order[j]!]! <= runEnd) {
        runEnd = Math.max(runEnd, indices[order[j]!]! + 1);
        j++;
      }
      const members = order.slice(k, j);
      reads.push(this.readRunInto(runStart, runEnd, members, indices, pixels));
      k = j;
    }
    await Promise.all(reads);
    let labels: Int32Array | undefined;
    if (this.labels) {
      labels = new Int32Array(n);
      for (let i = 0; i < n; i++) labels[i] = this.labels[indices[i]!]!;
    }
    return this.batch(pixels, n, labels);
  }

  private async readRunInto(
    runStart: number,
    runEnd: number,
    members: number[],
    indices: ArrayLike<number>,
    out: Uint8Array,
  ): Promise<void> {
    const bytes = this.imageBytes;
    if (members.length === 1 && runEnd === runStart + 1) {
      await this.readRun(runStart, runEnd, out, members[0]! * bytes);
      return;
    }
    const scratch = new Uint8Array((runEnd - runStart) * bytes);
    await this.readRun(runStart, runEnd, scratch, 0);
    for (const pos of members) {
      const from = (indices[pos]! - runStart) * bytes;
      out.set(scratch.subarray(from, from + bytes), pos * bytes);
    }
  }

  protected checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) {
      throw new InvalidArgumentError(
        `${this.description}: image index ${index} is outside [0, ${this.count}); pass an integer below count`,
      );
    }
  }

  private batch(pixels: Uint8Array, count: number, labels: Int32Array | undefined): ImageBatch {
    const b: { -readonly [K in keyof ImageBatch]: ImageBatch[K] } = {
      count,
      height: this.height,
      width: this.width,
      channels: this.channels,
      pixels,
    };
    if (labels) b.labels = labels;
    return b;
  }

  abstract close(): Promise<void>;
}

/** Checks that a label array is as long as the images and every label is in [0, numClasses). */
export function findBadLabel(labels: Int32Array, numClasses: number): number {
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l < 0 || l >= numClasses) return i;
  }
  return -1;
}
