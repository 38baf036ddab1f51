import { readFile } from 'node:fs/promises';
import { CorruptDatasetError, InvalidArgumentError } from '../errors.js';
import type { ImageDataset } from '../image-dataset.js';
import { NumpyRandomState } from '../numpy-random-state.js';
import { columnMajorDecoder, RecordDataset } from '../record-dataset.js';
import { FileRecordStore } from '../record-store.js';
import { subsetDataset } from '../views.js';

/**
 * The 80 Million Tiny Images binary (`tiny_images.bin`, withdrawn in 2020): 79 302 017 records
 * of 3072 bytes, each a 32x32x3 uint8 array in column-major (Fortran) order, no header.
 * Spec 2.3 describes how the reference code picked its training subset; this module reproduces
 * that selection exactly (numpy's MT19937 permutation, see {@link NumpyRandomState}).
 */
export const TINY_IMAGES = {
  /** Records in the original file. */
  images: 79_302_017,
  recordBytes: 3072,
  /** Images per chunk (consecutive records). */
  chunkSize: 64,
  /** Chunks kept by the reference selection: 24 415 · 64 = 1 562 560 images. */
  chunksKept: 24_415,
  /** `numpy.random.RandomState` seed of the chunk selection (create_tiny.py). */
  selectionSeed: 20_191_203,
  /** Seed of the chunk-order shuffle before the train/test split (the experiments' numpy seed). */
  splitSeed: 20_200_610,
  /** Fraction of chunks in the training split. */
  trainFraction: 0.8,
} as const;

/** Options of {@link selectTinyChunks}. */
export interface TinyChunkSelection {
  /** Records in the file (79 302 017 for the original). */
  totalImages: number;
  chunkSize?: number;
  /** How many chunks to keep (24 415). */
  numChunks?: number;
  seed?: number;
  /** Zero-based image indices to avoid: chunks containing any of them are skipped. */
  exclude?: ArrayLike<number>;
}

/**
 * The reference chunk selection (spec 2.3): candidate starts `0, 64, 128, …` without the last
 * incomplete chunk, permuted by `RandomState(seed).choice(starts, len(starts), replace=False)`,
 * walked in that order keeping chunks free of excluded indices until `numChunks` are kept.
 * Returns the kept chunk start indices in permutation order.
 */
export function selectTinyChunks(options: TinyChunkSelection): Int32Array {
  const chunkSize = options.chunkSize ?? TINY_IMAGES.chunkSize;
  const numChunks = options.numChunks ?? TINY_IMAGES.chunksKept;
  const numStarts = Math.floor(options.totalImages / chunkSize);
  const excluded = new Uint8Array(numStarts);
  if (options.exclude) {
    for (let i = 0; i < options.exclude.length; i++) {
      const chunk = Math.floor(options.exclude[i]! / chunkSize);
      if (chunk >= 0 && chunk < numStarts) excluded[chunk] = 1;
    }
  }
  const order = new NumpyRandomState(options.seed ?? TINY_IMAGES.selectionSeed).permutation(
    numStarts,
  );
  const kept = new Int32Array(numChunks);
  let k = 0;
  for (let i = 0; i < numStarts && k < numChunks; i++) {
    const chunk = order[i]!;
    if (!excluded[chunk]) kept[k++] = chunk * chunkSize;
  }
  if (k < numChunks) {
    throw new InvalidArgumentError(
      `only ${k} chunks of ${chunkSize} images are available (${numStarts} in ${options.totalImages} images, minus exclusions) but ${numChunks} were requested`,
    );
  }
  return kept;
}

/**
 * Parses a Tiny Images exclusion list (`80mn_cifar_idxs.txt`, `cifar_indexes`): one one-based
 * index per line; 0 means "not found" and is skipped. Returns zero-based indices.
 */
export function parseTinyExclusionList(text: string, path: string): Int32Array {
  const out: number[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    if (!/^\d+$/.test(line) || Number(line) > 2 ** 31 - 1) {
      throw new CorruptDatasetError(
        `${path}: line ${i + 1} is "${line.slice(0, 40)}", not a one-based image index; an exclusion list holds one integer per line`,
      );
    }
    const v = Number(line);
    if (v > 0) out.push(v - 1);
  }
  return Int32Array.from(out);
}

/** Options of {@link openTinyImages}. */
export interface TinyImagesOptions {
  /**
   * 'reference' (default): the 24 415 chunks of spec 2.3 (1 562 560 images); 'all': every record.
   */
  selection?: 'reference' | 'all';
  /** Chunks to keep with the reference selection (default 24 415; fewer for small files). */
  numChunks?: number;
  /** Exclusion list files (CIFAR-free variant of spec 2.3). */
  excludeFiles?: string[];
  /**
   * With the reference selection: 'all' (default, chunks in selection order), or 'train' /
   * 'test', the 80/20 contiguous chunk split after a chunk-order shuffle (see README: the
   * shuffle is seeded like the reference but is not guaranteed to be the same permutation).
   */
  split?: 'all' | 'train' | 'test';
  details?: Record<string, unknown>;
}

/** Opens `tiny_images.bin` (or a file of the same record layout) with the spec 2.3 selection. */
export async function openTinyImages(
  path: string,
  options: TinyImagesOptions = {},
): Promise<ImageDataset> {
  const store = await FileRecordStore.open(path);
  let full: ImageDataset;
  try {
    if (store.size === 0 || store.size % TINY_IMAGES.recordBytes !== 0) {
      throw new CorruptDatasetError(
        `${path}: ${store.size} bytes is not a whole number of 3072-byte Tiny Images records; the file is truncated or not tiny_images.bin`,
      );
    }
    const count = store.size / TINY_IMAGES.recordBytes;
    full = new RecordDataset(
      {
        description: path,
        count,
        height: 32,
        width: 32,
        channels: 3,
        provenance: { format: 'tiny-images', sources: [path], details: { records: count } },
      },
      store,
      { offset: 0, stride: 3072, pixelOffset: 0, decode: columnMajorDecoder(32, 32, 3) },
    );
  } catch (e) {
    await store.close();
    throw e;
  }
  if ((options.selection ?? 'reference') === 'all') {
    if (options.split && options.split !== 'all') {
      await full.close();
      throw new InvalidArgumentError(
        `${path}: split '${options.split}' needs selection 'reference'`,
      );
    }
    return full;
  }
  try {
    const exclude = await readExclusions(options.excludeFiles ?? []);
    const chunks = selectTinyChunks({
      totalImages: full.count,
      ...(options.numChunks !== undefined ? { numChunks: options.numChunks } : {}),
      ...(exclude ? { exclude } : {}),
    });
    const split = options.split ?? 'all';
    const ordered = split === 'all' ? chunks : splitChunks(chunks, split);
    const indices = new Int32Array(ordered.length * TINY_IMAGES.chunkSize);
    for (let k = 0; k < ordered.length; k++) {
      for (let j = 0; j < TINY_IMAGES.chunkSize; j++)
        indices[k * TINY_IMAGES.chunkSize + j] = ordered[k]! + j;
    }
    return subsetDataset(full, indices, {
      ...options.details,
      selection: 'reference',
      selectionSeed: TINY_IMAGES.selectionSeed,
      chunks: ordered.length,
      excludeFiles: options.excludeFiles ?? [],
      split,
      ...(split !== 'all' ? { splitSeed: TINY_IMAGES.splitSeed } : {}),
      matchesPaperSelection:
        full.count === TINY_IMAGES.images && chunks.length === TINY_IMAGES.chunksKept,
    });
  } catch (e) {
    await full.close();
    throw e;
  }
}

async function readExclusions(files: string[]): Promise<Int32Array | undefined> {
  if (files.length === 0) return undefined;
  const lists: Int32Array[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch (e) {
      throw new InvalidArgumentError(
        `${f}: cannot read the exclusion list (${(e as Error).message})`,
        { cause: e },
      );
    }
    lists.push(parseTinyExclusionList(text, f));
  }
  const all = new Int32Array(lists.reduce((s, l) => s + l.length, 0));
  let o = 0;
  for (const l of lists) {
    all.set(l, o);
    o += l.length;
  }
  return all;
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * Spec 2.3 loading: chunks in ascending start order, shuffled with `RandomState(20200610)`,
 * then the first round(0.8·chunks) are train and the rest test (1 250 048 / 312 512 images).
 */
export function splitChunks(chunks: Int32Array, split: 'train' | 'test'): Int32Array {
  const sorted = Int32Array.from(chunks).sort();
  const order = new NumpyRandomState(TINY_IMAGES.splitSeed).permutation(sorted.length);
  const shuffled = Int32Array.from(order, (i) => sorted[i]!);
  const nTrain = roundHalfEven(sorted.length * TINY_IMAGES.trainFraction);
  return split === 'train' ? shuffled.subarray(0, nTrain) : shuffled.subarray(nTrain);
}
