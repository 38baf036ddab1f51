import { join } from 'node:path';
import type { CatalogueEntry } from './catalogue.js';
import { CorruptDatasetError, InvalidArgumentError } from './errors.js';
import { detectCifarFolder, openCifarFolder } from './formats/cifar.js';
import { findIdxSplit, listIdxImageFiles, openIdxDataset } from './formats/idx.js';
import { openSvhnMat } from './formats/svhn.js';
import type { ImageDataset } from './image-dataset.js';
import { pathExists } from './path-exists.js';

/**
 * A catalogue dataset's folder (a system copy or the download cache): whether it holds a
 * split, and opening a split with its expected count and shape checked. Shared by opening by
 * name and by `download`'s final check, so neither imports the other's module.
 */

/** Options of {@link openEntryFolder}. */
export interface EntryFolderOptions {
  /** CIFAR-100: fine (100) or coarse (20) labels. */
  labelKind?: 'fine' | 'coarse';
  /** CIFAR: skip the label bytes unchecked (see `OpenDatasetOptions.ignoreLabels`). */
  ignoreLabels?: boolean;
}

export async function hasSplitFiles(
  entry: CatalogueEntry,
  dir: string,
  split: string,
): Promise<boolean> {
  try {
    switch (entry.format) {
      case 'idx':
        return (
          await listIdxImageFiles(entry.cacheFolder === 'emnist' ? join(dir, 'gzip') : dir)
        ).some((f) => f.prefix === entry.idx?.prefix && f.split === split);
      case 'cifar10':
      case 'cifar100':
        return (await detectCifarFolder(dir))?.variant === entry.format;
      case 'svhn-mat':
        return await pathExists(join(dir, `${split}_32x32.mat`));
      default:
        return false;
    }
  } catch {
    return false;
  }
}

export async function openEntryFolder(
  entry: CatalogueEntry,
  dir: string,
  split: string,
  options: EntryFolderOptions,
): Promise<ImageDataset> {
  const details = { catalogue: entry.name, split };
  let ds: ImageDataset;
  switch (entry.format) {
    case 'idx': {
      const idxDir = entry.cacheFolder === 'emnist' ? join(dir, 'gzip') : dir;
      const path = await findIdxSplit(idxDir, split, entry.idx?.prefix);
      ds = await openIdxDataset(path, {
        transpose: entry.idx?.transpose ?? false,
        labelOffset: entry.idx?.labelOffset ?? 0,
        numClasses: entry.numClasses,
        ...(entry.classNames ? { classNames: entry.classNames } : {}),
        details,
      });
      break;
    }
    case 'cifar10':
    case 'cifar100':
      ds = await openCifarFolder(dir, split, {
        ...(options.labelKind ? { labelKind: options.labelKind } : {}),
        ...(options.ignoreLabels ? { ignoreLabels: true } : {}),
        ...(entry.classNames ? { classNames: entry.classNames } : {}),
        details,
      });
      break;
    case 'svhn-mat':
      ds = await openSvhnMat(join(dir, `${split}_32x32.mat`), { details });
      break;
    default:
      throw new InvalidArgumentError(`${entry.name} cannot be opened by name; pass its path`);
  }
  const expected = entry.splits[split];
  const [h, w, c] = entry.shape;
  if (ds.count !== expected || ds.height !== h || ds.width !== w || ds.channels !== c) {
    await ds.close();
    throw new CorruptDatasetError(
      `${ds.description}: holds ${ds.count} images of ${ds.height}x${ds.width}x${ds.channels} but ${entry.name} ${split} has ${expected} of ${h}x${w}x${c}; the files are incomplete or belong to another dataset`,
    );
  }
  return ds;
}

/**
 * Opens each split of a downloaded catalogue dataset and checks its image count and shape
 * (`download` calls this; useful to check a copy made by other means).
 */
export async function verifyDatasetFolder(
  entry: CatalogueEntry,
  dir: string,
  splits: string[],
): Promise<void> {
  for (const split of splits) {
    const ds = await openEntryFolder(entry, dir, split, {});
    await ds.close();
  }
}
