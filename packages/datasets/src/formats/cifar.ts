import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { CorruptDatasetError, DatasetNotFoundError, InvalidArgumentError } from '../errors.js';
import { findBadLabel, type ImageDataset } from '../image-dataset.js';
import { planarDecoder, RecordDataset } from '../record-dataset.js';
import { FileRecordStore } from '../record-store.js';
import { concatDatasets } from '../views.js';

/**
 * CIFAR-10 / CIFAR-100 binary version: fixed records of label byte(s) followed by 3072 pixel
 * bytes, stored as three 32x32 planes (R, G, B), each row-major.
 * - CIFAR-10: 1 label byte (0-9), records of 3073 bytes; data_batch_1..5.bin, test_batch.bin.
 * - CIFAR-100: coarse (0-19) then fine (0-99) label byte, records of 3074 bytes; train.bin, test.bin.
 */
export type CifarVariant = 'cifar10' | 'cifar100';

const PIXELS = 32 * 32 * 3;
const LABEL_BYTES: Record<CifarVariant, number> = { cifar10: 1, cifar100: 2 };

/** Options of {@link openCifarFile} and {@link openCifarFolder}. */
export interface CifarOptions {
  /** CIFAR-100 only: the 100 fine classes (default) or the 20 coarse superclasses. */
  labelKind?: 'fine' | 'coarse';
  classNames?: readonly string[];
  details?: Record<string, unknown>;
  /**
   * Skip the label bytes, unread and unchecked (default false): for your own 32x32x3 records in
   * this layout whose label bytes are not CIFAR classes.
   */
  ignoreLabels?: boolean;
}

/** Opens one CIFAR binary file, checking the record size and every label. */
export async function openCifarFile(
  path: string,
  variant: CifarVariant,
  options: CifarOptions = {},
): Promise<ImageDataset> {
  const labelBytes = LABEL_BYTES[variant];
  const stride = labelBytes + PIXELS;
  const store = await FileRecordStore.open(path);
  try {
    if (store.size === 0 || store.size % stride !== 0) {
      const other: CifarVariant = variant === 'cifar10' ? 'cifar100' : 'cifar10';
      const hint =
        store.size > 0 && store.size % (LABEL_BYTES[other] + PIXELS) === 0
          ? ` It fits ${other} records: is it a ${other} file?`
          : ' The file is truncated or not a CIFAR binary file.';
      throw new CorruptDatasetError(
        `${path}: ${store.size} bytes is not a whole number of ${stride}-byte ${variant} records.${hint}`,
      );
    }
    const count = store.size / stride;
    const fine = variant === 'cifar100' && options.labelKind !== 'coarse';
    const numClasses = variant === 'cifar10' ? 10 : fine ? 100 : 20;
    const labels = options.ignoreLabels
      ? undefined
      : await scanLabels(store, count, stride, fine ? 1 : 0);
    const bad = labels ? findBadLabel(labels, numClasses) : -1;
    if (bad >= 0) {
      throw new CorruptDatasetError(
        `${path}: record ${bad} has label ${labels![bad]}, outside the ${numClasses} ${variant} classes; the file is corrupt or of another dataset`,
        { remedy: { kind: 'ignore-labels' } },
      );
    }
    return new RecordDataset(
      {
        description: path,
        count,
        height: 32,
        width: 32,
        channels: 3,
        labels,
        numClasses: labels ? numClasses : undefined,
        classNames: labels ? options.classNames : undefined,
        provenance: {
          format: `${variant}-binary`,
          sources: [path],
          details: {
            ...options.details,
            ...(variant === 'cifar100' ? { labelKind: fine ? 'fine' : 'coarse' } : {}),
          },
        },
      },
      store,
      { offset: 0, stride, pixelOffset: labelBytes, decode: planarDecoder(32, 32, 3) },
    );
  } catch (e) {
    await store.close();
    throw e;
  }
}

/** Reads the label byte at `labelOffset` of every record, in 4 MiB passes. */
async function scanLabels(
  store: FileRecordStore,
  count: number,
  stride: number,
  labelOffset: number,
) {
  const labels = new Int32Array(count);
  const perChunk = Math.max(1, Math.floor((4 * 1024 * 1024) / stride));
  const buf = new Uint8Array(perChunk * stride);
  for (let s = 0; s < count; s += perChunk) {
    const n = Math.min(perChunk, count - s);
    await store.read(s * stride, n * stride, buf, 0);
    for (let i = 0; i < n; i++) labels[s + i] = buf[i * stride + labelOffset]!;
  }
  return labels;
}

const SPLIT_FILES: Record<CifarVariant, Record<string, string[]>> = {
  cifar10: {
    train: [
      'data_batch_1.bin',
      'data_batch_2.bin',
      'data_batch_3.bin',
      'data_batch_4.bin',
      'data_batch_5.bin',
    ],
    test: ['test_batch.bin'],
  },
  cifar100: { train: ['train.bin'], test: ['test.bin'] },
};

/** Which CIFAR variant a folder holds (looking one level down too), or null. */
export async function detectCifarFolder(
  dir: string,
): Promise<{ dir: string; variant: CifarVariant } | null> {
  for (const d of [dir, join(dir, 'cifar-10-batches-bin'), join(dir, 'cifar-100-binary')]) {
    let names: string[];
    try {
      names = await readdir(d);
    } catch {
      continue;
    }
    if (names.includes('test_batch.bin') || names.includes('data_batch_1.bin'))
      return { dir: d, variant: 'cifar10' };
    if (
      names.includes('train.bin') &&
      (names.includes('fine_label_names.txt') || names.includes('test.bin'))
    ) {
      return { dir: d, variant: 'cifar100' };
    }
  }
  return null;
}

/** Guesses the variant of a single CIFAR file from its name (data_batch_N / test_batch = CIFAR-10). */
export function cifarVariantFromName(path: string): CifarVariant | null {
  const name = basename(path);
  if (/^(data_batch_\d+|test_batch)\.bin$/.test(name)) return 'cifar10';
  if (/^(train|test)\.bin$/.test(name)) return 'cifar100';
  return null;
}

/** Opens the 'train' (50 000 images) or 'test' (10 000) split of a CIFAR binary folder. */
export async function openCifarFolder(
  dir: string,
  split: string,
  options: CifarOptions = {},
): Promise<ImageDataset> {
  const found = await detectCifarFolder(dir);
  if (!found) {
    throw new DatasetNotFoundError(
      `${dir}: no CIFAR binary files (data_batch_1.bin/test_batch.bin or train.bin/test.bin); extract cifar-10-binary.tar.gz or cifar-100-binary.tar.gz here`,
    );
  }
  const files = SPLIT_FILES[found.variant][split];
  if (!files) {
    throw new InvalidArgumentError(
      `${dir}: CIFAR has the splits 'train' and 'test', not '${split}'`,
    );
  }
  const classNames =
    options.classNames ?? (await readClassNames(found.dir, found.variant, options.labelKind));
  const parts: ImageDataset[] = [];
  try {
    for (const f of files) {
      parts.push(
        await openCifarFile(join(found.dir, f), found.variant, {
          ...options,
          ...(classNames ? { classNames } : {}),
          details: { ...options.details, split },
        }),
      );
    }
  } catch (e) {
    await Promise.all(parts.map((p) => p.close()));
    throw e;
  }
  return concatDatasets(parts, `${found.dir} (${found.variant} ${split})`);
}

async function readClassNames(dir: string, variant: CifarVariant, kind?: 'fine' | 'coarse') {
  const file =
    variant === 'cifar10'
      ? 'batches.meta.txt'
      : kind === 'coarse'
        ? 'coarse_label_names.txt'
        : 'fine_label_names.txt';
  try {
    const names = (await readFile(join(dir, file), 'utf8'))
      .split('\n')
      .map((s) => s.trim())
      .filter(Boolean);
    return names.length === (variant === 'cifar10' ? 10 : kind === 'coarse' ? 20 : 100)
      ? names
      : undefined;
  } catch {
    return undefined;
  }
}
