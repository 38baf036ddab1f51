import { createHash } from 'node:crypto';
import { AtomicFile } from '../atomic-file.js';
import { CorruptDatasetError, InvalidArgumentError } from '../errors.js';
import { findBadLabel, type ImageDataset, type Provenance } from '../image-dataset.js';
import { RecordDataset } from '../record-dataset.js';
import { FileRecordStore } from '../record-store.js';

/**
 * hierglow's own dataset file (`.hgds`): a fixed preamble, a JSON header, a raw uint8 NHWC body
 * that can be read in slices, optional labels, and a sha256 of everything after the header.
 *
 * ```
 * offset 0        8 bytes   magic "HGLWDSET"
 * offset 8        uint32 LE format version (1)
 * offset 12       uint32 LE header length L
 * offset 16       L bytes   UTF-8 JSON header, space-padded so the body starts on a 64-byte boundary
 * bodyOffset      count·H·W·C bytes, uint8, NHWC row-major
 * labels.offset   count labels, uint8 or int32 LE (8-byte aligned; zero padding before it)
 * checksum.offset 32 bytes  sha256 of bytes [bodyOffset, checksum.offset)
 * ```
 */
export const HIERGLOW_MAGIC = 'HGLWDSET';
/** Version written by this package; readers reject newer versions. */
export const HIERGLOW_FORMAT_VERSION = 1;
const PREAMBLE_BYTES = 16;
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

/** Label storage inside a hierglow dataset file. */
export interface HierglowLabelsHeader {
  dtype: 'uint8' | 'int32';
  offset: number;
  numClasses: number;
  classNames?: string[];
}

/** The JSON header of a hierglow dataset file. */
export interface HierglowHeader {
  format: 'hierglow-dataset';
  version: number;
  dtype: 'uint8';
  layout: 'NHWC';
  /** [count, height, width, channels]. */
  shape: [number, number, number, number];
  count: number;
  bodyOffset: number;
  bodyBytes: number;
  labels: HierglowLabelsHeader | null;
  checksum: { algorithm: 'sha256'; offset: number };
  provenance: Provenance;
}

/** True when the bytes start with the hierglow magic (for format detection). */
export function looksLikeHierglow(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && new TextDecoder().decode(bytes.subarray(0, 8)) === HIERGLOW_MAGIC;
}

/** Reads and validates the header of a hierglow dataset file. */
export async function readHierglowHeader(path: string): Promise<HierglowHeader> {
  const store = await FileRecordStore.open(path);
  try {
    return await readHeaderFrom(store);
  } finally {
    await store.close();
  }
}

async function readHeaderFrom(store: FileRecordStore): Promise<HierglowHeader> {
  const path = store.path;
  if (store.size < PREAMBLE_BYTES) {
    throw new CorruptDatasetError(
      `${path}: ${store.size} bytes is too short for a hierglow dataset file`,
    );
  }
  const pre = new Uint8Array(PREAMBLE_BYTES);
  await store.read(0, PREAMBLE_BYTES, pre, 0);
  if (!looksLikeHierglow(pre)) {
    throw new CorruptDatasetError(
      `${path}: missing the "${HIERGLOW_MAGIC}" magic; this is not a hierglow dataset file`,
    );
  }
  const view = new DataView(pre.buffer);
  const version = view.getUint32(8, true);
  if (version < 1 || version > HIERGLOW_FORMAT_VERSION) {
    throw new CorruptDatasetError(
      `${path}: hierglow dataset format version ${version}; this reader understands up to ${HIERGLOW_FORMAT_VERSION} (upgrade @hierglow/datasets)`,
    );
  }
  const headerLength = view.getUint32(12, true);
  if (headerLength > MAX_HEADER_BYTES || PREAMBLE_BYTES + headerLength > store.size) {
    throw new CorruptDatasetError(
      `${path}: header length ${headerLength} does not fit in the ${store.size}-byte file; it is truncated or corrupt`,
    );
  }
  const raw = new Uint8Array(headerLength);
  await store.read(PREAMBLE_BYTES, headerLength, raw, 0);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (e) {
    throw new CorruptDatasetError(
      `${path}: the JSON header does not parse (${(e as Error).message})`,
      { cause: e },
    );
  }
  return validateHeader(path, json, PREAMBLE_BYTES + headerLength, store.size);
}

function validateHeader(
  path: string,
  json: unknown,
  minBody: number,
  fileSize: number,
): HierglowHeader {
  const bad = (what: string): never => {
    throw new CorruptDatasetError(`${path}: invalid hierglow header: ${what}`);
  };
  if (typeof json !== 'object' || json === null) return bad('not a JSON object');
  const h = json as Record<string, unknown>;
  if (h.format !== 'hierglow-dataset')
    bad(`format is ${JSON.stringify(h.format)}, expected "hierglow-dataset"`);
  if (h.dtype !== 'uint8') bad(`dtype ${JSON.stringify(h.dtype)} is not supported (only uint8)`);
  if (h.layout !== 'NHWC') bad(`layout ${JSON.stringify(h.layout)} is not supported (only NHWC)`);
  const isCount = (v: unknown, min: number) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
  const shape = h.shape;
  if (
    !Array.isArray(shape) ||
    shape.length !== 4 ||
    !shape.every((v, i) => isCount(v, i === 0 ? 0 : 1))
  ) {
    bad(
      `shape ${JSON.stringify(shape)} is not [count, height, width, channels] of positive integers`,
    );
  }
  const [count, height, width, channels] = shape as [number, number, number, number];
  if (h.count !== count) bad(`count ${h.count} differs from shape[0] ${count}`);
  const bodyBytes = count * height * width * channels;
  if (h.bodyBytes !== bodyBytes)
    bad(`bodyBytes ${h.bodyBytes} differs from the shape's ${bodyBytes}`);
  if (!isCount(h.bodyOffset, minBody)) bad(`bodyOffset ${h.bodyOffset} overlaps the header`);
  const bodyOffset = h.bodyOffset as number;
  let end = bodyOffset + bodyBytes;
  let labels: HierglowLabelsHeader | null = null;
  if (h.labels !== null && h.labels !== undefined) {
    const l = h.labels as Record<string, unknown>;
    if (l.dtype !== 'uint8' && l.dtype !== 'int32')
      bad(`labels.dtype ${JSON.stringify(l.dtype)} is not uint8 or int32`);
    if (!isCount(l.offset, end)) bad(`labels.offset ${l.offset} overlaps the body`);
    if (!isCount(l.numClasses, 1))
      bad(`labels.numClasses ${l.numClasses} is not a positive integer`);
    if (
      l.classNames !== undefined &&
      !(Array.isArray(l.classNames) && l.classNames.every((s) => typeof s === 'string'))
    ) {
      bad('labels.classNames is not a list of strings');
    }
    labels = l as unknown as HierglowLabelsHeader;
    end = labels.offset + count * (labels.dtype === 'int32' ? 4 : 1);
  }
  const c = h.checksum as Record<string, unknown> | undefined;
  if (c?.algorithm !== 'sha256' || !isCount(c.offset, end))
    bad('checksum is missing or overlaps the data');
  const checksumOffset = (c as { offset: number }).offset;
  const p = h.provenance as Record<string, unknown> | undefined;
  if (!p || typeof p.format !== 'string' || !Array.isArray(p.sources))
    bad('provenance lacks format or sources');
  if (fileSize !== checksumOffset + 32) {
    throw new CorruptDatasetError(
      `${path}: the header describes ${checksumOffset + 32} bytes but the file has ${fileSize}; it is ${fileSize < checksumOffset + 32 ? 'truncated' : 'followed by extra bytes'} (rebuild it)`,
    );
  }
  return h as unknown as HierglowHeader;
}

/** Opens a hierglow dataset file for sliced reading (labels are loaded, pixels are not). */
export async function openHierglowDataset(path: string): Promise<ImageDataset> {
  const store = await FileRecordStore.open(path);
  try {
    const header = await readHeaderFrom(store);
    const [count, height, width, channels] = header.shape;
    let labels: Int32Array | undefined;
    if (header.labels) {
      labels = await readLabels(store, header.labels, count);
      const badAt = findBadLabel(labels, header.labels.numClasses);
      if (badAt >= 0) {
        throw new CorruptDatasetError(
          `${path}: label ${labels[badAt]} of image ${badAt} is outside [0, ${header.labels.numClasses})`,
        );
      }
    }
    return new RecordDataset(
      {
        description: path,
        count,
        height,
        width,
        channels,
        labels,
        numClasses: header.labels?.numClasses,
        classNames: header.labels?.classNames,
        provenance: header.provenance,
      },
      store,
      { offset: header.bodyOffset, stride: height * width * channels, pixelOffset: 0 },
    );
  } catch (e) {
    await store.close();
    throw e;
  }
}

async function readLabels(
  store: FileRecordStore,
  l: HierglowLabelsHeader,
  count: number,
): Promise<Int32Array> {
  const width = l.dtype === 'int32' ? 4 : 1;
  const raw = new Uint8Array(count * width);
  await store.read(l.offset, raw.length, raw, 0);
  if (width === 1) return Int32Array.from(raw);
  const view = new DataView(raw.buffer);
  const out = new Int32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getInt32(4 * i, true);
  return out;
}

/**
 * Streams the file's data through sha256 and compares it with the stored checksum. Reads the
 * whole file, so it is a separate step from opening.
 */
export async function verifyHierglowChecksum(path: string): Promise<void> {
  const store = await FileRecordStore.open(path);
  try {
    const header = await readHeaderFrom(store);
    const hash = createHash('sha256');
    const chunk = new Uint8Array(4 * 1024 * 1024);
    for (let pos = header.bodyOffset; pos < header.checksum.offset; pos += chunk.length) {
      const n = Math.min(chunk.length, header.checksum.offset - pos);
      await store.read(pos, n, chunk, 0);
      hash.update(chunk.subarray(0, n));
    }
    const stored = new Uint8Array(32);
    await store.read(header.checksum.offset, 32, stored, 0);
    const actual = hash.digest();
    if (!actual.equals(stored)) {
      throw new CorruptDatasetError(
        `${path}: sha256 of the data is ${actual.toString('hex')} but the file records ${Buffer.from(stored).toString('hex')}; the file is corrupt (rebuild it)`,
      );
    }
  } finally {
    await store.close();
  }
}

/** What {@link HierglowDatasetWriter.create} needs to know before the first image. */
export interface HierglowWriterOptions {
  count: number;
  height: number;
  width: number;
  channels: number;
  /** Store labels with this dtype (uint8 when every class index is below 256). */
  labels?: { dtype: 'uint8' | 'int32'; numClasses: number; classNames?: string[] };
  provenance: Provenance;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/**
 * Writes a hierglow dataset file. Images go in either in order (`append`) or at chosen indices
 * (`writeAt`, used by the shuffled builder). Everything is written to a temporary file that is
 * renamed into place by `finish`, so an interrupted build leaves no half-written dataset.
 */
export class HierglowDatasetWriter {
  private readonly written: Uint8Array;
  private writtenCount = 0;
  private appendNext = 0;
  private sequential = true;
  private readonly hash = createHash('sha256');
  private readonly labels: Int32Array | undefined;

  private constructor(
    private readonly file: AtomicFile,
    readonly header: HierglowHeader,
  ) {
    this.written = new Uint8Array(header.count);
    if (header.labels) this.labels = new Int32Array(header.count);
  }

  /** Starts a new file at `path` (replaced atomically on `finish`). */
  static async create(
    path: string,
    options: HierglowWriterOptions,
  ): Promise<HierglowDatasetWriter> {
    const { count, height, width, channels } = options;
    for (const [name, v] of Object.entries({ count, height, width, channels })) {
      if (!Number.isSafeInteger(v) || v < (name === 'count' ? 0 : 1)) {
        throw new InvalidArgumentError(`${path}: ${name} must be a positive integer, got ${v}`);
      }
    }
    if (options.labels?.dtype === 'uint8' && options.labels.numClasses > 256) {
      throw new InvalidArgumentError(
        `${path}: ${options.labels.numClasses} classes do not fit uint8 labels; use int32`,
      );
    }
    const bodyBytes = count * height * width * channels;
    // The header's offsets depend on its own length; iterate until the padded length is stable.
    let bodyOffset = 64;
    let json = '';
    for (let guard = 0; guard < 8; guard++) {
      const labelsOffset = align(bodyOffset + bodyBytes, 8);
      const labelBytes = options.labels ? count * (options.labels.dtype === 'int32' ? 4 : 1) : 0;
      const header: HierglowHeader = {
        format: 'hierglow-dataset',
        version: HIERGLOW_FORMAT_VERSION,
        dtype: 'uint8',
        layout: 'NHWC',
        shape: [count, height, width, channels],
        count,
        bodyOffset,
        bodyBytes,
        labels: options.labels ? { ...options.labels, offset: labelsOffset } : null,
        checksum: {
          algorithm: 'sha256',
          offset: options.labels ? labelsOffset + labelBytes : bodyOffset + bodyBytes,
        },
        provenance: options.provenance,
      };
      json = JSON.stringify(header, null, 1);
      const needed = align(PREAMBLE_BYTES + Buffer.byteLength(json), 64);
      if (needed === bodyOffset) {
        const file = await AtomicFile.create(path);
        const head = Buffer.alloc(bodyOffset, 0x20);
        head.write(HIERGLOW_MAGIC, 0, 'latin1');
        head.writeUInt32LE(HIERGLOW_FORMAT_VERSION, 8);
        head.writeUInt32LE(bodyOffset - PREAMBLE_BYTES, 12);
        head.write(json, PREAMBLE_BYTES, 'utf8');
        await file.handle.write(head, 0, head.length, 0);
        return new HierglowDatasetWriter(file, header);
      }
      bodyOffset = needed;
    }
    throw new InvalidArgumentError(`${path}: could not lay out the header`);
  }

  private get imageBytes(): number {
    const [, h, w, c] = this.header.shape;
    return h * w * c;
  }

  /** Appends images (NHWC bytes, a whole number of images) and their labels. */
  async append(pixels: Uint8Array, labels?: ArrayLike<number>): Promise<void> {
    await this.writeAt(this.appendNext, pixels, labels);
  }

  /** Writes images at `index`, `index+1`, ... (any order; each index exactly once). */
  async writeAt(index: number, pixels: Uint8Array, labels?: ArrayLike<number>): Promise<void> {
    const n = this.checkImages(pixels, labels);
    if (!Number.isInteger(index) || index < 0 || index + n > this.header.count) {
      throw new InvalidArgumentError(
        `${this.file.path}: writing ${n} images at ${index} is outside the declared count ${this.header.count}`,
      );
    }
    // Book-keeping happens before the write is awaited, so concurrent callers see a consistent
    // order: the running hash is only valid while images arrive strictly in index order.
    this.mark(index, n, labels);
    if (index !== this.appendNext) this.sequential = false;
    if (this.sequential) this.hash.update(pixels);
    this.appendNext = index + n;
    await this.file.handle.write(
      pixels,
      0,
      pixels.length,
      this.header.bodyOffset + index * this.imageBytes,
    );
  }

  private checkImages(pixels: Uint8Array, labels?: ArrayLike<number>): number {
    const n = pixels.length / this.imageBytes;
    if (!Number.isInteger(n)) {
      throw new InvalidArgumentError(
        `${this.file.path}: ${pixels.length} bytes is not a whole number of ${this.imageBytes}-byte images`,
      );
    }
    if (Boolean(this.header.labels) !== (labels !== undefined) || (labels && labels.length !== n)) {
      throw new InvalidArgumentError(
        `${this.file.path}: ${this.header.labels ? `pass exactly one label per image (${n})` : 'this file was declared without labels'}`,
      );
    }
    return n;
  }

  private mark(start: number, n: number, labels?: ArrayLike<number>): void {
    for (let i = 0; i < n; i++) {
      if (this.written[start + i]) {
        throw new InvalidArgumentError(`${this.file.path}: image ${start + i} was written twice`);
      }
      this.written[start + i] = 1;
      if (labels && this.labels) {
        const l = labels[i]!;
        if (!Number.isInteger(l) || l < 0 || l >= this.header.labels!.numClasses) {
          throw new InvalidArgumentError(
            `${this.file.path}: label ${l} of image ${start + i} is outside [0, ${this.header.labels!.numClasses})`,
          );
        }
        this.labels[start + i] = l;
      }
    }
    this.writtenCount += n;
  }

  /** Writes labels and checksum, flushes and renames into place. Every image must be written. */
  async finish(): Promise<void> {
    try {
      if (this.writtenCount !== this.header.count) {
        throw new InvalidArgumentError(
          `${this.file.path}: only ${this.writtenCount} of the declared ${this.header.count} images were written`,
        );
      }
      const { handle } = this.file;
      const tail: Uint8Array[] = [];
      const bodyEnd = this.header.bodyOffset + this.header.bodyBytes;
      if (this.header.labels && this.labels) {
        tail.push(new Uint8Array(this.header.labels.offset - bodyEnd));
        tail.push(
          this.header.labels.dtype === 'uint8'
            ? Uint8Array.from(this.labels)
            : int32Le(this.labels),
        );
      }
      const tailBytes = concat(tail);
      await handle.write(tailBytes, 0, tailBytes.length, bodyEnd);
      let digest: Buffer;
      if (this.sequential) {
        digest = this.hash.update(tailBytes).digest();
      } else {
        digest = await hashRange(this.file, this.header.bodyOffset, this.header.checksum.offset);
      }
      await handle.write(digest, 0, 32, this.header.checksum.offset);
      await this.file.commit();
    } catch (e) {
      await this.file.abort();
      throw e;
    }
  }

  /** Deletes the temporary file without touching the destination. */
  async abort(): Promise<void> {
    await this.file.abort();
  }
}

function int32Le(values: Int32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) v.setInt32(4 * i, values[i]!, true);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function hashRange(file: AtomicFile, from: number, to: number): Promise<Buffer> {
  const hash = createHash('sha256');
  const chunk = new Uint8Array(4 * 1024 * 1024);
  for (let pos = from; pos < to; pos += chunk.length) {
    const n = Math.min(chunk.length, to - pos);
    let done = 0;
    while (done < n) {
      const { bytesRead } = await file.handle.read(chunk, done, n - done, pos + done);
      if (bytesRead === 0)
        throw new CorruptDatasetError(`${file.tempPath}: short read while hashing`);
      done += bytesRead;
    }
    hash.update(chunk.subarray(0, n));
  }
  return hash.digest();
}

/**
 * Copies any {@link ImageDataset} into a hierglow dataset file, `chunk` images at a time (the
 * source is never loaded whole).
 */
export async function writeHierglowDataset(
  path: string,
  source: ImageDataset,
  options: { chunk?: number; provenance?: Provenance } = {},
): Promise<void> {
  const numClasses = source.numClasses ?? (source.labels ? Math.max(0, ...source.labels) + 1 : 0);
  const writer = await HierglowDatasetWriter.create(path, {
    count: source.count,
    height: source.height,
    width: source.width,
    channels: source.channels,
    ...(source.labels
      ? {
          labels: {
            dtype: numClasses <= 256 ? 'uint8' : 'int32',
            numClasses,
            ...(source.classNames ? { classNames: [...source.classNames] } : {}),
          },
        }
      : {}),
    provenance: options.provenance ?? source.provenance,
  });
  try {
    const chunk = options.chunk ?? 4096;
    for (let s = 0; s < source.count; s += chunk) {
      const b = await source.slice(s, Math.min(source.count, s + chunk));
      await writer.append(b.pixels, b.labels);
    }
    await writer.finish();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}
