import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createRng, deriveSeed, type Rng, randomPermutation } from '@hierglow/random';
import sharp from 'sharp';
import { CorruptDatasetError, InvalidArgumentError } from '../errors.js';
import { HierglowDatasetWriter } from '../formats/hierglow-format.js';
import { IMAGE_EXTENSIONS, listImageFiles } from '../formats/image-folder.js';
import { GREY_WEIGHTS, rgbToGreyBytes } from '../pipeline/grey.js';

/**
 * Builds a "general natural image" dataset, a substitute for 80 Million Tiny Images (spec 2.3,
 * data-sources.md §2), from any photographs:
 * - every crop comes from a uniformly drawn photo group, then a uniformly drawn photo in it;
 * - every crop is square, its side log-uniform between the output size and the photo's
 *   shorter side, placed uniformly, flipped horizontally with probability ½;
 * - crops are downsampled with an antialiasing filter (sharp's lanczos3 by default) to
 *   size x size RGB, or grey by the spec's weights (truncated to uint8, as the reference's
 *   augmented Tiny grey);
 * - whole photo groups (a photo, or e.g. all frames of one clip) are held out for validation,
 *   because crops of one photo are strongly correlated;
 * - everything random comes from `seed`: the same photos and seed give byte-identical files.
 *
 * Output: `<outDir>/train.hgds` and `<outDir>/validation.hgds` (hierglow format), with every
 * photo's path, sha256 and size, the seeds and the options in the provenance. The label of a
 * crop is the index of its source photo in the provenance list (not a class).
 */

/** A photo, with the group it is held out with (default: the photo itself). */
export interface PhotoSource {
  path: string;
  group?: string;
}

/** Options of {@link buildGeneralDataset}. */
export interface GeneralDatasetOptions {
  /** Photo files, folders (searched recursively for PNG/JPEG), or {@link PhotoSource}s. */
  sources: Array<string | PhotoSource>;
  outDir: string;
  trainCount: number;
  /** Crops from the held-out photos (default trainCount / 10, rounded). */
  validationCount?: number;
  /** Share of photo groups held out (default 0.1; at least one group when there are two or more). */
  validationFraction?: number;
  /** Output side in pixels (default 32). */
  size?: number;
  /** 3 (RGB, default) or 1 (grey). */
  channels?: 1 | 3;
  seed?: number;
  /** Downsampling kernel (default 'lanczos3'). */
  kernel?: 'lanczos3' | 'lanczos2' | 'mitchell' | 'cubic' | 'linear';
  /** Crops computed at once (default 4). */
  concurrency?: number;
  onProgress?: (p: BuildProgress) => void;
}

/** Progress report of {@link buildGeneralDataset}. */
export interface BuildProgress {
  split: 'train' | 'validation';
  done: number;
  total: number;
}

/** A photo as used by the builder. */
export interface PhotoInfo {
  path: string;
  group: string;
  sha256: string;
  /** Size after EXIF orientation. */
  width: number;
  height: number;
  split: 'train' | 'validation' | 'skipped';
  crops: number;
}

/** What {@link buildGeneralDataset} wrote. */
export interface GeneralDatasetResult {
  train: string;
  validation: string;
  trainCount: number;
  validationCount: number;
  photos: PhotoInfo[];
  seconds: number;
}

/** One planned crop. */
export interface CropPlan {
  /** Index into the photo list. */
  photo: number;
  left: number;
  top: number;
  side: number;
  flip: boolean;
}

/**
 * Plans `count` crops: a group drawn uniformly, then one of its photos uniformly (so 55 face
 * crops of one person weigh as much as one landscape); side = round(exp(U(ln size,
 * ln shortSide))); position uniform over the valid range; flip with probability ½.
 * `groups` lists photo indices per group.
 */
export function planCrops(
  photos: ReadonlyArray<{ width: number; height: number }>,
  groups: ReadonlyArray<readonly number[]>,
  count: number,
  size: number,
  rng: Rng,
): CropPlan[] {
  const plan: CropPlan[] = [];
  for (let k = 0; k < count; k++) {
    const members = groups[rng.int(groups.length)]!;
    const photo = members[rng.int(members.length)]!;
    const { width, height } = photos[photo]!;
    const short = Math.min(width, height);
    const logSide = Math.log(size) + rng.uniform() * (Math.log(short) - Math.log(size));
    const side = Math.min(short, Math.max(size, Math.round(Math.exp(logSide))));
    const left = rng.int(width - side + 1);
    const top = rng.int(height - side + 1);
    plan.push({ photo, left, top, side, flip: rng.uniform() < 0.5 });
  }
  return plan;
}

/** Streams of the builder's seed, so that each decision has its own reproducible stream. */
const STREAM = { split: 1, train: 2, validation: 3 } as const;

/** Builds the train and validation files; see the module comment for the method. */
export async function buildGeneralDataset(
  options: GeneralDatasetOptions,
): Promise<GeneralDatasetResult> {
  const t0 = performance.now();
  const size = options.size ?? 32;
  const channels = options.channels ?? 3;
  const seed = options.seed ?? 0;
  const trainCount = options.trainCount;
  const validationCount = options.validationCount ?? Math.round(trainCount / 10);
  const fraction = options.validationFraction ?? 0.1;
  const kernel = options.kernel ?? 'lanczos3';
  if (!Number.isInteger(size) || size < 1)
    throw new InvalidArgumentError(`size must be a positive integer, got ${size}`);
  if (channels !== 1 && channels !== 3)
    throw new InvalidArgumentError(`channels must be 1 or 3, got ${channels}`);
  if (!Number.isInteger(trainCount) || trainCount < 1)
    throw new InvalidArgumentError(`trainCount must be a positive integer, got ${trainCount}`);
  if (!Number.isInteger(validationCount) || validationCount < 0) {
    throw new InvalidArgumentError(
      `validationCount must be a non-negative integer, got ${validationCount}`,
    );
  }
  if (!(fraction > 0 && fraction < 1))
    throw new InvalidArgumentError(`validationFraction must be in (0, 1), got ${fraction}`);

  const photos = await describePhotos(await expandSources(options.sources), size);
  const usable = photos.map((p, i) => (p.split === 'skipped' ? -1 : i)).filter((i) => i >= 0);
  const groups = [...new Set(usable.map((i) => photos[i]!.group))].sort();
  if (groups.length === 0) {
    throw new InvalidArgumentError(`no photo has a side of at least ${size} px; nothing to crop`);
  }
  if (validationCount > 0 && groups.length < 2) {
    throw new InvalidArgumentError(
      `only one photo group (${groups[0]}); holding whole photos out for validation needs two or more (or pass validationCount: 0)`,
    );
  }
  const order = randomPermutation(groups.length, createRng(deriveSeed(seed, STREAM.split)));
  const nHeld =
    validationCount > 0
      ? Math.min(groups.length - 1, Math.max(1, Math.round(fraction * groups.length)))
      : 0;
  const held = new Set(Array.from(order.subarray(0, nHeld), (g) => groups[g]!));
  for (const i of usable) photos[i]!.split = held.has(photos[i]!.group) ? 'validation' : 'train';

  await mkdir(options.outDir, { recursive: true });
  const common = {
    seed,
    size,
    channels,
    kernel,
    validationFraction: fraction,
    heldOutGroups: [...held].sort(),
  };
  const result: GeneralDatasetResult = {
    train: join(options.outDir, 'train.hgds'),
    validation: join(options.outDir, 'validation.hgds'),
    trainCount,
    validationCount,
    photos,
    seconds: 0,
  };
  for (const split of ['train', 'validation'] as const) {
    const count = split === 'train' ? trainCount : validationCount;
    const inSplit = usable.filter((i) => photos[i]!.split === split);
    const byGroup = [...new Set(inSplit.map((i) => photos[i]!.group))]
      .sort()
      .map((g) => inSplit.filter((i) => photos[i]!.group === g));
    const plan = planCrops(
      photos,
      byGroup,
      count,
      size,
      createRng(deriveSeed(seed, STREAM[split])),
    );
    for (const c of plan) photos[c.photo]!.crops++;
    await writeSplit(split === 'train' ? result.train : result.validation, split, plan, photos, {
      ...common,
      channels,
      kernel,
      concurrency: options.concurrency ?? 4,
      onProgress: options.onProgress,
    });
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

async function expandSources(sources: GeneralDatasetOptions['sources']): Promise<PhotoSource[]> {
  const out = new Map<string, PhotoSource>();
  for (const s of sources) {
    const src = typeof s === 'string' ? { path: s } : s;
    const path = resolve(src.path);
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (e) {
      throw new InvalidArgumentError(`${path}: photo source does not exist`, { cause: e });
    }
    if (info.isDirectory()) {
      for (const f of await listImageFiles(path)) out.set(f, { path: f, group: src.group ?? f });
    } else if (
      (IMAGE_EXTENSIONS as readonly string[]).some((e) => path.toLowerCase().endsWith(e))
    ) {
      out.set(path, { path, group: src.group ?? path });
    } else {
      throw new InvalidArgumentError(
        `${path}: not a ${IMAGE_EXTENSIONS.join('/')} file or a folder`,
      );
    }
  }
  return [...out.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function describePhotos(sources: PhotoSource[], size: number): Promise<PhotoInfo[]> {
  const photos: PhotoInfo[] = [];
  for (const s of sources) {
    const bytes = await readFile(s.path);
    let meta: sharp.Metadata;
    try {
      meta = await sharp(bytes).metadata();
    } catch (e) {
      throw new CorruptDatasetError(
        `${s.path}: cannot read the image header (${(e as Error).message})`,
        { cause: e },
      );
    }
    if (!meta.width || !meta.height)
      throw new CorruptDatasetError(`${s.path}: the image has no size`);
    const rotated = (meta.orientation ?? 1) >= 5;
    const width = rotated ? meta.height : meta.width;
    const height = rotated ? meta.width : meta.height;
    photos.push({
      path: s.path,
      group: s.group ?? s.path,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      width,
      height,
      split: Math.min(width, height) >= size ? 'train' : 'skipped',
      crops: 0,
    });
  }
  return photos;
}

interface SplitSettings {
  seed: number;
  size: number;
  channels: 1 | 3;
  kernel: NonNullable<GeneralDatasetOptions['kernel']>;
  concurrency: number;
  onProgress: GeneralDatasetOptions['onProgress'];
  [k: string]: unknown;
}

async function writeSplit(
  path: string,
  split: 'train' | 'validation',
  plan: CropPlan[],
  photos: PhotoInfo[],
  s: SplitSettings,
) {
  const { size, channels, kernel } = s;
  const writer = await HierglowDatasetWriter.create(path, {
    count: plan.length,
    height: size,
    width: size,
    channels,
    labels: {
      dtype: photos.length <= 256 ? 'uint8' : 'int32',
      numClasses: Math.max(1, photos.length),
      classNames: photos.map((p) => p.path),
    },
    provenance: {
      format: 'general-crops',
      sources: photos.map((p) => p.path),
      details: {
        builder: '@hierglow/datasets buildGeneralDataset v1',
        split,
        seed: s.seed,
        seedStream: STREAM[split],
        size,
        channels,
        kernel,
        crop: 'group uniform, photo uniform within it; square, side log-uniform in [size, shorter side], uniform position, horizontal flip p=0.5',
        grey:
          channels === 1 ? `floor(${GREY_WEIGHTS.join('·R + ')}·B) after downsampling RGB` : null,
        labels: 'index of the source photo in `photos`',
        validationFraction: s.validationFraction,
        heldOutGroups: s.heldOutGroups,
        photos: photos.map(({ path, group, sha256, width, height, split }) => ({
          path,
          group,
          sha256,
          width,
          height,
          split,
        })),
      },
    },
  });
  try {
    const byPhoto = new Map<number, number[]>();
    plan.forEach((c, k) => {
      const list = byPhoto.get(c.photo);
      if (list) list.push(k);
      else byPhoto.set(c.photo, [k]);
    });
    let done = 0;
    for (const [photoIndex, slots] of [...byPhoto.entries()].sort((a, b) => a[0] - b[0])) {
      const photo = photos[photoIndex]!;
      const { data, info } = await decodePhoto(photo.path);
      if (info.width !== photo.width || info.height !== photo.height) {
        throw new CorruptDatasetError(
          `${photo.path}: decoded to ${info.width}x${info.height}, the header said ${photo.width}x${photo.height}`,
        );
      }
      let next = 0;
      const worker = async () => {
        while (next < slots.length) {
          const k = slots[next++]!;
          const c = plan[k]!;
          let img = sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } })
            .extract({ left: c.left, top: c.top, width: c.side, height: c.side })
            .resize(size, size, { kernel });
          if (c.flip) img = img.flop();
          const rgb = new Uint8Array(await img.raw().toBuffer());
          await writer.writeAt(k, channels === 1 ? rgbToGreyBytes(rgb) : rgb, [photoIndex]);
          done++;
          s.onProgress?.({ split, done, total: plan.length });
        }
      };
      await Promise.all(Array.from({ length: Math.min(s.concurrency, slots.length) }, worker));
    }
    await writer.finish();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

async function decodePhoto(path: string) {
  try {
    return await sharp(await readFile(path), { failOn: 'error' })
      .rotate()
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new CorruptDatasetError(`${path}: cannot decode the photo (${(e as Error).message})`, {
      cause: e,
    });
  }
}
