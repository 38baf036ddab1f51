import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { CorruptDatasetError, DatasetNotFoundError, InvalidArgumentError } from '../errors.js';
import { findBadLabel, type ImageDataset } from '../image-dataset.js';
import { RecordDataset, transposedDecoder } from '../record-dataset.js';
import {
  FileRecordStore,
  fileOpenError,
  MemoryRecordStore,
  type RecordStore,
} from '../record-store.js';
import { isGzip, MAX_INFLATED_BYTES } from './file-bytes.js';

/**
 * IDX files (MNIST, Fashion-MNIST, KMNIST, EMNIST): big-endian header `0 0 <type> <ndim>`, then
 * ndim int32 sizes, then the elements row-major. Only unsigned bytes (type 0x08) are images or
 * labels; other types are reported as a mislabelled file.
 */

const IDX_UBYTE = 0x08;
const IDX_TYPE_NAMES: Record<number, string> = {
  8: 'ubyte',
  9: 'sbyte',
  11: 'int16',
  12: 'int32',
  13: 'float32',
  14: 'float64',
};

/** Parsed IDX header. */
export interface IdxHeader {
  /** IDX element type code (0x08 = unsigned byte). */
  typeCode: number;
  dims: number[];
  /** Byte offset of the first element. */
  dataOffset: number;
}

/** True when the bytes look like the start of an IDX file (used for format detection). */
export function looksLikeIdx(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    bytes[0] === 0 &&
    bytes[1] === 0 &&
    bytes[2]! in IDX_TYPE_NAMES &&
    bytes[3]! >= 1 &&
    bytes[3]! <= 4
  );
}

/** Parses and validates an IDX header against the total byte length of the (decompressed) file. */
export function parseIdxHeader(path: string, head: Uint8Array, totalBytes: number): IdxHeader {
  const { header, expectedBytes: expected } = readIdxHeader(path, head);
  if (totalBytes !== expected) {
    throw new CorruptDatasetError(
      `${path}: IDX header says ${header.dims.join('x')} ${IDX_TYPE_NAMES[header.typeCode]} (${expected} bytes) but the ${totalBytes < expected ? 'file is truncated at' : 'file has'} ${totalBytes} bytes`,
    );
  }
  return header;
}

/** Parses and validates an IDX header; returns it with the file size its dimensions imply. */
function readIdxHeader(
  path: string,
  head: Uint8Array,
): { header: IdxHeader; expectedBytes: number } {
  if (head.length < 4 || head[0] !== 0 || head[1] !== 0) {
    throw new CorruptDatasetError(
      `${path}: not an IDX file (the first two bytes must be 0, got ${hex(head.subarray(0, 4))}); pass an MNIST-style *-idx3-ubyte or *-idx1-ubyte file`,
    );
  }
  const typeCode = head[2]!;
  const ndim = head[3]!;
  if (!(typeCode in IDX_TYPE_NAMES)) {
    throw new CorruptDatasetError(`${path}: unknown IDX element type 0x${typeCode.toString(16)}`);
  }
  if (ndim < 1 || ndim > 4) {
    throw new CorruptDatasetError(
      `${path}: IDX header declares ${ndim} dimensions; images have 3, labels 1`,
    );
  }
  const dataOffset = 4 + 4 * ndim;
  if (head.length < dataOffset) {
    throw new CorruptDatasetError(
      `${path}: file ends inside the IDX header (${head.length} bytes)`,
    );
  }
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const dims: number[] = [];
  let elements = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    if (d === 0 || d > 2 ** 31 - 1) {
      throw new CorruptDatasetError(
        `${path}: IDX dimension ${i} is ${d}, which is not a valid size`,
      );
    }
    dims.push(d);
    elements *= d;
  }
  const elemBytes =
    typeCode === IDX_UBYTE || typeCode === 0x09
      ? 1
      : typeCode === 0x0b
        ? 2
        : typeCode === 0x0e
          ? 8
          : 4;
  return {
    header: { typeCode, dims, dataOffset },
    expectedBytes: dataOffset + elements * elemBytes,
  };
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

/**
 * Gunzips an IDX file as a stream, bounded by what its header promises: the header is read from
 * the first decompressed bytes, and decompression stops (with an error) as soon as the output
 * passes the size the header's dimensions give. A small file that inflates to gigabytes (a gzip
 * bomb, or a header that does not match its data) costs no more than the header claims.
 */
async function gunzipIdx(path: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let received = 0;
  let expected: number | null = null;
  const source = createReadStream(path);
  const gunzip = createGunzip();
  const fail = (e: Error) => {
    source.destroy();
    gunzip.destroy(e);
  };
  try {
    for await (const chunk of source.pipe(gunzip) as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      received += chunk.length;
      if (expected === null && received >= 4) {
        const head = Buffer.concat(chunks);
        // Up to 4 dimensions; a larger count is refused by readIdxHeader.
        if (received >= Math.min(4 + 4 * head[3]!, 4 + 4 * 4) || head[3]! > 4) {
          expected = readIdxHeader(path, head).expectedBytes;
          if (expected > MAX_INFLATED_BYTES) {
            throw new CorruptDatasetError(
              `${path}: the IDX header promises ${expected} bytes, more than the ${MAX_INFLATED_BYTES} hierglow reads`,
            );
          }
        }
      }
      if (expected !== null && received > expected) {
        throw new CorruptDatasetError(
          `${path}: decompresses to more than the ${expected} bytes its IDX header promises; stopped there (a corrupt or hostile file)`,
        );
      }
    }
  } catch (e) {
    fail(e as Error);
    if (CorruptDatasetError.isInstance(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw fileOpenError(path, e);
    throw new CorruptDatasetError(
      `${path}: gzip data is corrupt or truncated (${(e as Error).message}); re-download the file`,
      { cause: e },
    );
  }
  return Buffer.concat(chunks, received);
}

/** An IDX file opened for reading: its header and a store over its (decompressed) bytes. */
interface OpenedIdx {
  header: IdxHeader;
  store: RecordStore;
}

/**
 * Opens an IDX file, gzipped or raw. Gzipped files are decompressed into memory (MNIST-sized);
 * raw files are read lazily with positional reads.
 */
async function openIdxFile(path: string): Promise<OpenedIdx> {
  const store = await FileRecordStore.open(path);
  const probe = new Uint8Array(Math.min(store.size, 24));
  try {
    await store.read(0, probe.length, probe, 0);
  } catch (e) {
    await store.close();
    throw e;
  }
  if (isGzip(probe)) {
    await store.close();
    const bytes = await gunzipIdx(path);
    return {
      header: parseIdxHeader(path, bytes.subarray(0, 24), bytes.length),
      store: new MemoryRecordStore(path, bytes),
    };
  }
  try {
    return { header: parseIdxHeader(path, probe, store.size), store };
  } catch (e) {
    await store.close();
    throw e;
  }
}

/** Options of {@link openIdxDataset}. */
export interface IdxOptions {
  /**
   * Labels file. Default: derived from the images file name (`images-idx3` → `labels-idx1`,
   * same compression or the other one); `null` means no labels.
   */
  labelsPath?: string | null;
  /** EMNIST stores every image transposed; true flips it back. */
  transpose?: boolean;
  /** Expected number of classes; labels outside [0, numClasses) are an error. Default: max+1. */
  numClasses?: number;
  /** Added to every label (EMNIST letters are 1..26; pass -1 to get 0..25). */
  labelOffset?: number;
  classNames?: readonly string[];
  /** Provenance details to record (catalogue name, split, ...). */
  details?: Record<string, unknown>;
}

/**
 * Opens an IDX images file (rank 3 `[N, rows, cols]` or rank 4 `[N, rows, cols, channels]`,
 * unsigned bytes) with its labels file, validating magic numbers, sizes and label counts.
 */
export async function openIdxDataset(
  imagesPath: string,
  options: IdxOptions = {},
): Promise<ImageDataset> {
  const { header, store } = await openIdxFile(imagesPath);
  try {
    if (header.typeCode !== IDX_UBYTE || (header.dims.length !== 3 && header.dims.length !== 4)) {
      throw new CorruptDatasetError(
        `${imagesPath}: expected IDX images (unsigned bytes, 3 or 4 dimensions) but found ${IDX_TYPE_NAMES[header.typeCode]} of shape ${header.dims.join('x')}${header.dims.length === 1 ? ' (is this a labels file?)' : ''}`,
      );
    }
    const [count, height, width, channels = 1] = header.dims as [number, number, number, number?];
    const labelsPath =
      options.labelsPath === undefined ? await findLabelsFile(imagesPath) : options.labelsPath;
    let labels: Int32Array | undefined;
    let numClasses: number | undefined;
    if (labelsPath !== null) {
      labels = await readIdxLabels(labelsPath, count, options.labelOffset ?? 0);
      numClasses = options.numClasses ?? labels.reduce((m, l) => Math.max(m, l + 1), 0);
      const bad = findBadLabel(labels, numClasses);
      if (bad >= 0) {
        throw new CorruptDatasetError(
          `${labelsPath}: label ${labels[bad]! - (options.labelOffset ?? 0)} of image ${bad} is outside the ${numClasses} classes of this dataset; is it the labels file of another dataset?`,
        );
      }
    }
    const sources = labelsPath ? [imagesPath, labelsPath] : [imagesPath];
    return new RecordDataset(
      {
        description: imagesPath,
        count,
        height,
        width,
        channels,
        labels,
        numClasses,
        classNames: options.classNames,
        provenance: {
          format: 'idx',
          sources,
          details: { ...options.details, transposed: Boolean(options.transpose) },
        },
      },
      store,
      {
        offset: header.dataOffset,
        stride: height * width * channels,
        pixelOffset: 0,
        ...(options.transpose ? { decode: transposedDecoder(height, width, channels) } : {}),
      },
    );
  } catch (e) {
    await store.close();
    throw e;
  }
}

/** Reads a whole IDX labels file (rank 1, unsigned bytes) and checks it has `count` labels. */
export async function readIdxLabels(
  path: string,
  count: number,
  labelOffset = 0,
): Promise<Int32Array> {
  const { header, store } = await openIdxFile(path);
  try {
    if (header.typeCode !== IDX_UBYTE || header.dims.length !== 1) {
      throw new CorruptDatasetError(
        `${path}: expected IDX labels (unsigned bytes, 1 dimension) but found ${IDX_TYPE_NAMES[header.typeCode]} of shape ${header.dims.join('x')}`,
      );
    }
    if (header.dims[0] !== count) {
      throw new CorruptDatasetError(
        `${path}: has ${header.dims[0]} labels but the images file has ${count} images; the two files do not belong together`,
      );
    }
    const raw = new Uint8Array(count);
    await store.read(header.dataOffset, count, raw, 0);
    const labels = new Int32Array(count);
    for (let i = 0; i < count; i++) labels[i] = raw[i]! + labelOffset;
    return labels;
  } finally {
    await store.close();
  }
}

/** The labels file next to an images file, or null when there is none. */
async function findLabelsFile(imagesPath: string): Promise<string | null> {
  const name = basename(imagesPath);
  if (!name.includes('images-idx')) return null;
  const stem = name.replace(/images-idx\d-ubyte/, 'labels-idx1-ubyte').replace(/\.gz$/, '');
  const dir = dirname(imagesPath);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return null;
  }
  for (const candidate of [`${stem}${name.endsWith('.gz') ? '.gz' : ''}`, stem, `${stem}.gz`]) {
    if (entries.includes(candidate)) return join(dir, candidate);
  }
  return null;
}

/** An IDX images file found in a folder. */
export interface IdxSplitFile {
  /** File name prefix before the split, e.g. '' for MNIST or 'emnist-balanced-' for EMNIST. */
  prefix: string;
  split: 'train' | 'test';
  path: string;
}

const IDX_IMAGES_NAME = /^(.*?)(train|t10k|test)-images-idx3-ubyte(\.gz)?$/;

/** Lists the IDX images files of a folder by prefix and split (`t10k` counts as test). */
export async function listIdxImageFiles(dir: string): Promise<IdxSplitFile[]> {
  const out: IdxSplitFile[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const m = IDX_IMAGES_NAME.exec(name);
    if (!m) continue;
    const prefix = m[1]!;
    const split = m[2] === 'train' ? 'train' : 'test';
    if (out.some((f) => f.prefix === prefix && f.split === split)) continue; // raw and .gz both present
    out.push({ prefix, split, path: join(dir, name) });
  }
  return out;
}

/** Picks the images file of `split` (and `prefix`, when a folder holds several IDX datasets). */
export async function findIdxSplit(dir: string, split: string, prefix?: string): Promise<string> {
  if (split !== 'train' && split !== 'test') {
    throw new InvalidArgumentError(
      `${dir}: IDX datasets have the splits 'train' and 'test', not '${split}'`,
    );
  }
  const files = await listIdxImageFiles(dir);
  const prefixes = [...new Set(files.map((f) => f.prefix))];
  const chosen = prefix ?? (prefixes.length === 1 ? prefixes[0] : undefined);
  if (chosen === undefined) {
    throw new InvalidArgumentError(
      `${dir} holds several IDX datasets (${prefixes.map((p) => `'${p}'`).join(', ')}); pass { variant } to choose one`,
    );
  }
  const hit = files.find((f) => f.prefix === chosen && f.split === split);
  if (!hit) {
    const available = files.filter((f) => f.prefix === chosen).map((f) => f.split);
    throw new DatasetNotFoundError(
      `${dir}: no ${chosen}${split === 'train' ? 'train' : 't10k'}-images-idx3-ubyte[.gz] file for split '${split}'`,
      available.length > 0 ? { remedy: { kind: 'other-split', split, available } } : undefined,
    );
  }
  return hit.path;
}
