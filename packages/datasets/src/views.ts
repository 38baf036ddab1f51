import { InvalidArgumentError } from './errors.js';
import { type ImageDataset, ImageDatasetBase, type Provenance } from './image-dataset.js';
import { RecordDataset } from './record-dataset.js';
import { MemoryRecordStore } from './record-store.js';

/** Pixels and labels to wrap as an in-memory {@link ImageDataset}. */
export interface InMemoryImages {
  /** NHWC uint8, `count·height·width·channels` bytes. */
  pixels: Uint8Array;
  count: number;
  height: number;
  width: number;
  channels: number;
  labels?: Int32Array;
  numClasses?: number;
  classNames?: readonly string[];
  description?: string;
  provenance?: Provenance;
}

/** Wraps NHWC pixels held in memory as an {@link ImageDataset} (no copy). */
export function inMemoryDataset(images: InMemoryImages): ImageDataset {
  const { pixels, count, height, width, channels } = images;
  const description = images.description ?? 'in-memory dataset';
  for (const [name, v] of Object.entries({ count, height, width, channels })) {
    if (!Number.isInteger(v) || v < (name === 'count' ? 0 : 1)) {
      throw new InvalidArgumentError(
        `${description}: ${name} must be a positive integer, got ${v}`,
      );
    }
  }
  const bytes = height * width * channels;
  if (pixels.length !== count * bytes) {
    throw new InvalidArgumentError(
      `${description}: pixels has ${pixels.length} bytes but count·height·width·channels = ${count * bytes}`,
    );
  }
  if (images.labels && images.labels.length !== count) {
    throw new InvalidArgumentError(
      `${description}: ${images.labels.length} labels for ${count} images; pass one label per image`,
    );
  }
  return new RecordDataset(
    {
      description,
      count,
      height,
      width,
      channels,
      labels: images.labels,
      numClasses: images.numClasses ?? (images.labels ? maxPlusOne(images.labels) : undefined),
      classNames: images.classNames,
      provenance: images.provenance ?? { format: 'memory', sources: [] },
    },
    new MemoryRecordStore(description, pixels),
    { offset: 0, stride: bytes, pixelOffset: 0 },
  );
}

function maxPlusOne(labels: Int32Array): number {
  let m = -1;
  for (const l of labels) if (l > m) m = l;
  return m + 1;
}

/** The images of `source` at `indices`, in that order. Closing the view closes the source. */
export function subsetDataset(
  source: ImageDataset,
  indices: Int32Array,
  details?: Record<string, unknown>,
): ImageDataset {
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i]!;
    if (k < 0 || k >= source.count) {
      throw new InvalidArgumentError(
        `${source.description}: subset index ${k} at position ${i} is outside [0, ${source.count})`,
      );
    }
  }
  return new SubsetDataset(source, indices, details);
}

class SubsetDataset extends ImageDatasetBase {
  constructor(
    private readonly source: ImageDataset,
    private readonly indices: Int32Array,
    details: Record<string, unknown> | undefined,
  ) {
    let labels: Int32Array | undefined;
    if (source.labels) {
      labels = new Int32Array(indices.length);
      for (let i = 0; i < indices.length; i++) labels[i] = source.labels[indices[i]!]!;
    }
    super({
      description: `${source.description} (subset of ${indices.length})`,
      count: indices.length,
      height: source.height,
      width: source.width,
      channels: source.channels,
      labels,
      numClasses: source.numClasses,
      classNames: source.classNames,
      provenance: {
        ...source.provenance,
        details: { ...source.provenance.details, ...details, subsetOf: source.count },
      },
    });
  }

  protected async readRun(start: number, end: number, out: Uint8Array, outOffset: number) {
    const b = await this.source.gather(this.indices.subarray(start, end));
    out.set(b.pixels, outOffset);
  }

  async close() {
    await this.source.close();
  }
}

/**
 * Several datasets of the same image shape, one after another (e.g. CIFAR-10's five training
 * files). Closing it closes every part.
 */
export function concatDatasets(parts: ImageDataset[], description?: string): ImageDataset {
  const first = parts[0];
  if (!first) throw new InvalidArgumentError('concatDatasets needs at least one dataset');
  for (const p of parts) {
    if (p.height !== first.height || p.width !== first.width || p.channels !== first.channels) {
      throw new InvalidArgumentError(
        `${p.description} is ${p.height}x${p.width}x${p.channels} but ${first.description} is ${first.height}x${first.width}x${first.channels}; concatenated datasets need one shape`,
      );
    }
    if (Boolean(p.labels) !== Boolean(first.labels)) {
      throw new InvalidArgumentError(
        `${p.description} and ${first.description}: either every part has labels or none has`,
      );
    }
  }
  if (parts.length === 1) return first;
  return new ConcatDataset(parts, description);
}

class ConcatDataset extends ImageDatasetBase {
  private readonly starts: number[];
  constructor(
    private readonly parts: ImageDataset[],
    description: string | undefined,
  ) {
    const first = parts[0]!;
    const count = parts.reduce((s, p) => s + p.count, 0);
    let labels: Int32Array | undefined;
    if (first.labels) {
      labels = new Int32Array(count);
      let o = 0;
      for (const p of parts) {
        labels.set(p.labels!, o);
        o += p.count;
      }
    }
    super({
      description: description ?? parts.map((p) => p.description).join(' + '),
      count,
      height: first.height,
      width: first.width,
      channels: first.channels,
      labels,
      numClasses: labels ? Math.max(...parts.map((p) => p.numClasses ?? 0)) : undefined,
      classNames: first.classNames,
      provenance: {
        format: first.provenance.format,
        sources: parts.flatMap((p) => [...p.provenance.sources]),
        details: { ...first.provenance.details, parts: parts.map((p) => p.description) },
      },
    });
    this.starts = [];
    let s = 0;
    for (const p of parts) {
      this.starts.push(s);
      s += p.count;
    }
  }

  protected async readRun(start: number, end: number, out: Uint8Array, outOffset: number) {
    const reads: Promise<void>[] = [];
    for (let i = 0; i < this.parts.length; i++) {
      const part = this.parts[i]!;
      const ps = this.starts[i]!;
      const lo = Math.max(start, ps);
      const hi = Math.min(end, ps + part.count);
      if (lo >= hi) continue;
      const at = outOffset + (lo - start) * this.imageBytes;
      reads.push(part.slice(lo - ps, hi - ps).then((b) => out.set(b.pixels, at)));
    }
    await Promise.all(reads);
  }

  async close() {
    await Promise.all(this.parts.map((p) => p.close()));
  }
}

/** The images of `source` without its labels. Closing the view closes the source. */
export function withoutLabels(source: ImageDataset): ImageDataset {
  return new UnlabelledDataset(source);
}

class UnlabelledDataset extends ImageDatasetBase {
  constructor(private readonly source: ImageDataset) {
    super({
      description: source.description,
      count: source.count,
      height: source.height,
      width: source.width,
      channels: source.channels,
      provenance: {
        ...source.provenance,
        details: { ...source.provenance.details, labels: 'ignored' },
      },
    });
  }

  protected async readRun(start: number, end: number, out: Uint8Array, outOffset: number) {
    out.set((await this.source.slice(start, end)).pixels, outOffset);
  }

  async close() {
    await this.source.close();
  }
}
