import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createRng, deriveSeed, type Rng, randomPermutation } from '@hierglow/random';
import sharp from 'sharp';
import { CorruptDatasetError, InvalidArgumentError } from '../errors.js';
import { HierglowDatasetWriter } from '../formats/hierglow-format.js';
import { IMAGE_EXTENSIONS, listImageFiles } from '../formats/image-folder.js';
import { GREY_WEIGHTS, rgbToGreyBytes } from '../pipeline/grey.js';
import { resizeBilinearPil } from '../pipeline/resize-bilinear.js';

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

/** What an image shows (the broad recipe weighs kinds equally). */
export type ImageKind = 'photo' | 'art' | 'game-art' | 'object' | 'icon' | 'texture' | 'astronomy';

/**
 * How an image becomes training images: `crop`, random square crops of an opaque image;
 * `cutout`, the whole object (its alpha's bounding box) scaled and composited on a background;
 * `auto`, `cutout` when at least {@link CUTOUT_MIN_TRANSPARENT} of its pixels are transparent.
 */
export type Rendering = 'crop' | 'cutout' | 'auto';

/** A photo, with the group it is held out with (default: the photo itself). */
export interface PhotoSource {
  path: string;
  group?: string;
}

/** An image of the broad general set: what it shows, where it comes from, how it is rendered. */
export interface ImageSource extends PhotoSource {
  kind: ImageKind;
  /** The Debian package (or any collection) it belongs to: the unit of weight inside a kind. */
  package: string;
  rendering: Rendering;
}

/**
 * The in-distribution's low-level style, for the domain-matched rendering: what a user knows of
 * their own data, not of any outlier set. Fashion-MNIST's: grey objects centred on an exactly
 * black 28x28 frame, 20-28 px across, resized 28 -> 32 with Pillow's bilinear as the data are.
 */
export interface DomainStyle {
  /** Side of the in-distribution's native frame in pixels (28 for Fashion-MNIST). */
  canvas: number;
  /** Range of the object's longer side in canvas pixels, drawn uniformly (inclusive). */
  objectMin: number;
  objectMax: number;
  /** Grey level of the background (0: exactly black). */
  background: number;
  /**
   * Side the frame is resized to with Pillow's bilinear, as the data pipeline resizes the
   * in-distribution images (the dataset's `size`); equal to `canvas` for no resize.
   */
  resize: number;
}

/** Fashion-MNIST's style as data-sources.md and its own documentation describe it. */
export const FASHION_MNIST_STYLE: DomainStyle = {
  canvas: 28,
  objectMin: 20,
  objectMax: 28,
  background: 0,
  resize: 32,
};

/** Named styles accepted by {@link parseDomainStyle}. */
export const DOMAIN_STYLES: Readonly<Record<string, DomainStyle>> = {
  'fashion-mnist': FASHION_MNIST_STYLE,
};

/**
 * Reads a style from a name of {@link DOMAIN_STYLES} or from
 * `canvas=28,object=20-28,background=0,resize=32` (every key required).
 */
export function parseDomainStyle(spec: string): DomainStyle {
  const named = DOMAIN_STYLES[spec];
  if (named) return { ...named };
  const fields = new Map<string, string>();
  for (const part of spec.split(',')) {
    const [key, value, ...rest] = part.split('=');
    if (!key || value === undefined || rest.length > 0) {
      throw new InvalidArgumentError(
        `domain style ${JSON.stringify(spec)}: expected one of ${Object.keys(DOMAIN_STYLES).join(', ')} or canvas=N,object=MIN-MAX,background=V,resize=N`,
      );
    }
    fields.set(key.trim(), value.trim());
  }
  const known = ['canvas', 'object', 'background', 'resize'];
  for (const key of fields.keys()) {
    if (!known.includes(key))
      throw new InvalidArgumentError(
        `domain style: unknown key ${JSON.stringify(key)} (keys: ${known.join(', ')})`,
      );
  }
  const int = (key: string, text: string | undefined) => {
    if (text === undefined) throw new InvalidArgumentError(`domain style: ${key} is missing`);
    const v = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(v))
      throw new InvalidArgumentError(
        `domain style: ${key} must be a non-negative integer, got ${JSON.stringify(text)}`,
      );
    return v;
  };
  const [min, max, ...more] = (fields.get('object') ?? '').split('-');
  if (more.length > 0) throw new InvalidArgumentError(`domain style: object must be MIN-MAX`);
  return {
    canvas: int('canvas', fields.get('canvas')),
    objectMin: int('object', min || undefined),
    objectMax: int('object', max ?? min),
    background: int('background', fields.get('background')),
    resize: int('resize', fields.get('resize')),
  };
}

/** Share of transparent pixels above which an `auto` image is rendered as a cut-out. */
export const CUTOUT_MIN_TRANSPARENT = 0.05;

/** Cut-outs whose object is smaller than this (longer side, px) are skipped: upscaling blurs. */
export const CUTOUT_MIN_SIDE = 16;

/** Options of {@link buildGeneralDataset}. */
export interface GeneralDatasetOptions {
  /**
   * Photo files, folders (searched recursively for PNG/JPEG), {@link PhotoSource}s (rendered as
   * crops), or {@link ImageSource}s.
   */
  sources: Array<string | PhotoSource | ImageSource>;
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
  /**
   * How an image is drawn: `group` (default), a group uniformly, then a photo in it; `kind`, a
   * kind uniformly, then a package inside the kind, then a group, then an image (the broad
   * recipe). With `kind`, groups are held out per package.
   */
  balance?: 'group' | 'kind';
  /**
   * Share of images rendered in the in-distribution's style (`domain`), the rest broadly
   * (default 0). The counts are exact: round(weight x count) per split.
   */
  domainWeight?: number;
  /** The in-distribution's style (needed when `domainWeight` > 0). */
  domain?: DomainStyle;
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
  kind: ImageKind;
  package: string;
  /** `auto` resolved. */
  rendering: 'crop' | 'cutout';
  /** A cut-out's object: the bounding box of its non-transparent pixels. */
  box?: { left: number; top: number; width: number; height: number };
}

/** What {@link buildGeneralDataset} wrote. */
export interface GeneralDatasetResult {
  train: string;
  validation: string;
  trainCount: number;
  validationCount: number;
  photos: PhotoInfo[];
  /** Images rendered in the in-distribution's style, per split. */
  domainCounts: { train: number; validation: number };
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
  /** Rendered in the in-distribution's style (absent: broadly). */
  domain?: boolean;
  /**
   * Where the rendered object goes on the frame: its longer side (px) and top-left corner (cut-outs,
   * and crops in the domain style); for broad cut-outs also the background colour.
   */
  place?: { side: number; x: number; y: number; background: [number, number, number] };
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
    plan.push({ photo, ...drawSquare(photos[photo]!, size, rng), flip: rng.uniform() < 0.5 });
  }
  return plan;
}

/** A square crop: side log-uniform in [size, shorter side], position uniform. */
function drawSquare({ width, height }: { width: number; height: number }, size: number, rng: Rng) {
  const short = Math.min(width, height);
  const logSide = Math.log(size) + rng.uniform() * (Math.log(short) - Math.log(size));
  const side = Math.min(short, Math.max(size, Math.round(Math.exp(logSide))));
  const left = rng.int(width - side + 1);
  const top = rng.int(height - side + 1);
  return { left, top, side };
}

/** Images of one split, by kind, then package, then group (each level sorted by name). */
export type KindTree = ReadonlyArray<ReadonlyArray<ReadonlyArray<readonly number[]>>>;

/**
 * Plans `count` images of the broad recipe: a kind uniformly, a package of it uniformly, a group
 * of the package uniformly, an image of the group uniformly. `domain[k]` says whether image k is
 * rendered in the in-distribution's style. Crops are drawn as in {@link planCrops}; a cut-out's
 * longer side is uniform in [size/2, size] at a uniform position on a uniformly drawn plain
 * colour (broad), or uniform in [objectMin, objectMax] centred on the style's background.
 */
export function planBalanced(
  photos: ReadonlyArray<Pick<PhotoInfo, 'width' | 'height' | 'rendering'>>,
  tree: KindTree,
  domain: ArrayLike<boolean>,
  size: number,
  style: DomainStyle | undefined,
  rng: Rng,
): CropPlan[] {
  const plan: CropPlan[] = [];
  for (let k = 0; k < domain.length; k++) {
    const packages = tree[rng.int(tree.length)]!;
    const groups = packages[rng.int(packages.length)]!;
    const members = groups[rng.int(groups.length)]!;
    const photo = members[rng.int(members.length)]!;
    const info = photos[photo]!;
    const square =
      info.rendering === 'crop' ? drawSquare(info, size, rng) : { left: 0, top: 0, side: 0 };
    const flip = rng.uniform() < 0.5;
    const item: CropPlan = { photo, ...square, flip };
    if (domain[k]) {
      const s = style!;
      const side = s.objectMin + rng.int(s.objectMax - s.objectMin + 1);
      const at = Math.floor((s.canvas - side) / 2);
      item.domain = true;
      item.place = { side, x: at, y: at, background: [s.background, s.background, s.background] };
    } else if (info.rendering === 'cutout') {
      const side = Math.round(size / 2 + rng.uniform() * (size / 2));
      const x = rng.int(size - side + 1);
      const y = rng.int(size - side + 1);
      item.place = { side, x, y, background: [rng.int(256), rng.int(256), rng.int(256)] };
    }
    plan.push(item);
  }
  return plan;
}

/** Streams of the builder's seed, so that each decision has its own reproducible stream. */
const STREAM = { split: 1, train: 2, validation: 3, domainTrain: 4, domainValidation: 5 } as const;

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
  const balance = options.balance ?? 'group';
  const domainWeight = options.domainWeight ?? 0;
  const style = options.domain;
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
  if (!(domainWeight >= 0 && domainWeight <= 1))
    throw new InvalidArgumentError(`domainWeight must be in [0, 1], got ${domainWeight}`);
  if (domainWeight > 0) checkStyle(style, size);
  if (domainWeight > 0 && balance !== 'kind')
    throw new InvalidArgumentError(`domainWeight needs balance: 'kind'`);

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
  const held = holdOutGroups(photos, usable, balance, validationCount > 0 ? fraction : 0, seed);
  for (const i of usable) photos[i]!.split = held.has(photos[i]!.group) ? 'validation' : 'train';

  await mkdir(options.outDir, { recursive: true });
  const common = {
    seed,
    size,
    channels,
    kernel,
    validationFraction: fraction,
    heldOutGroups: [...held].sort(),
    balance,
    domainWeight,
    domain: domainWeight > 0 ? style : null,
  };
  const result: GeneralDatasetResult = {
    train: join(options.outDir, 'train.hgds'),
    validation: join(options.outDir, 'validation.hgds'),
    trainCount,
    validationCount,
    photos,
    domainCounts: { train: 0, validation: 0 },
    seconds: 0,
  };
  for (const split of ['train', 'validation'] as const) {
    const count = split === 'train' ? trainCount : validationCount;
    const inSplit = usable.filter((i) => photos[i]!.split === split);
    const rng = createRng(deriveSeed(seed, STREAM[split]));
    let plan: CropPlan[];
    if (balance === 'group') {
      plan = planCrops(
        photos,
        groupBy(inSplit, (i) => photos[i]!.group),
        count,
        size,
        rng,
      );
    } else {
      const nDomain = Math.round(domainWeight * count);
      const order = randomPermutation(
        count,
        createRng(
          deriveSeed(seed, split === 'train' ? STREAM.domainTrain : STREAM.domainValidation),
        ),
      );
      const domain = new Array<boolean>(count).fill(false);
      for (let k = 0; k < nDomain; k++) domain[order[k]!] = true;
      const tree = groupBy(inSplit, (i) => photos[i]!.kind).map((ofKind) =>
        groupBy(ofKind, (i) => photos[i]!.package).map((ofPackage) =>
          groupBy(ofPackage, (i) => photos[i]!.group),
        ),
      );
      plan = planBalanced(photos, tree, domain, size, style, rng);
      result.domainCounts[split] = nDomain;
    }
    for (const c of plan) photos[c.photo]!.crops++;
    await writeSplit(split === 'train' ? result.train : result.validation, split, plan, photos, {
      ...common,
      channels,
      kernel,
      style,
      concurrency: options.concurrency ?? 4,
      onProgress: options.onProgress,
    });
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}

function checkStyle(style: DomainStyle | undefined, size: number): asserts style is DomainStyle {
  if (!style) throw new InvalidArgumentError('domainWeight > 0 needs a domain style');
  const { canvas, objectMin, objectMax, background, resize } = style;
  const ints = { canvas, objectMin, objectMax, background, resize };
  for (const [name, v] of Object.entries(ints)) {
    if (!Number.isInteger(v) || v < 0)
      throw new InvalidArgumentError(
        `domain style: ${name} must be a non-negative integer, got ${v}`,
      );
  }
  if (!(objectMin >= 1 && objectMin <= objectMax && objectMax <= canvas)) {
    throw new InvalidArgumentError(
      `domain style: need 1 <= objectMin <= objectMax <= canvas, got ${objectMin}, ${objectMax}, ${canvas}`,
    );
  }
  if (background > 255)
    throw new InvalidArgumentError(`domain style: background must be 0-255, got ${background}`);
  if (resize !== size) {
    throw new InvalidArgumentError(
      `domain style: resize (${resize}) must equal the dataset's size (${size})`,
    );
  }
}

/** Indices grouped by a key, groups in key order, indices in their order. */
function groupBy(indices: readonly number[], key: (i: number) => string): number[][] {
  const map = new Map<string, number[]>();
  for (const i of indices) {
    const k = key(i);
    const list = map.get(k);
    if (list) list.push(i);
    else map.set(k, [i]);
  }
  return [...map.keys()].sort().map((k) => map.get(k)!);
}

/**
 * The groups held out for validation: `fraction` of all groups (`group` balance; at least one), or
 * of each package's groups (`kind` balance; none from a package with a single group).
 */
function holdOutGroups(
  photos: readonly PhotoInfo[],
  usable: readonly number[],
  balance: 'group' | 'kind',
  fraction: number,
  seed: number,
): Set<string> {
  const held = new Set<string>();
  if (fraction === 0) return held;
  const pick = (groups: string[], rng: Rng, atLeastOne: boolean) => {
    if (groups.length < 2) return;
    const n = Math.min(
      groups.length - 1,
      Math.max(atLeastOne ? 1 : 0, Math.round(fraction * groups.length)),
    );
    const order = randomPermutation(groups.length, rng);
    for (const g of order.subarray(0, n)) held.add(groups[g]!);
  };
  if (balance === 'group') {
    const groups = [...new Set(usable.map((i) => photos[i]!.group))].sort();
    pick(groups, createRng(deriveSeed(seed, STREAM.split)), true);
    return held;
  }
  const byPackage = groupBy(usable, (i) => photos[i]!.package);
  for (const [p, members] of byPackage.entries()) {
    const groups = [...new Set(members.map((i) => photos[i]!.group))].sort();
    pick(groups, createRng(deriveSeed(seed, STREAM.split, p)), true);
  }
  return held;
}

type ExpandedSource = Required<PhotoSource> & Partial<Omit<ImageSource, 'path' | 'group'>>;

async function expandSources(sources: GeneralDatasetOptions['sources']): Promise<ExpandedSource[]> {
  const out = new Map<string, ExpandedSource>();
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
      for (const f of await listImageFiles(path))
        out.set(f, { ...src, path: f, group: src.group ?? f });
    } else if (
      [...IMAGE_EXTENSIONS, '.webp', PATTERN_EXTENSION].some((e) => path.toLowerCase().endsWith(e))
    ) {
      out.set(path, { ...src, path, group: src.group ?? path });
    } else {
      throw new InvalidArgumentError(
        `${path}: not a ${IMAGE_EXTENSIONS.join('/')}/.webp/${PATTERN_EXTENSION} file or a folder`,
      );
    }
  }
  return [...out.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

async function describePhotos(sources: ExpandedSource[], size: number): Promise<PhotoInfo[]> {
  const photos: PhotoInfo[] = [];
  for (const s of sources) {
    const bytes = await readFile(s.path);
    let width: number;
    let height: number;
    let hasAlpha = false;
    if (isPattern(s.path)) {
      ({ width, height } = readPatternHeader(bytes, s.path));
    } else {
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
      width = rotated ? meta.height : meta.width;
      height = rotated ? meta.width : meta.height;
      hasAlpha = meta.hasAlpha === true;
    }
    const info: PhotoInfo = {
      path: s.path,
      group: s.group,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      width,
      height,
      split: 'train',
      crops: 0,
      kind: s.kind ?? 'photo',
      package: s.package ?? '',
      rendering: 'crop',
    };
    const wanted = s.rendering ?? 'crop';
    if (wanted !== 'crop' && hasAlpha) {
      const alpha = await readAlpha(s.path, bytes);
      const transparent = alpha.transparent / (alpha.width * alpha.height);
      if (wanted === 'cutout' || transparent >= CUTOUT_MIN_TRANSPARENT) {
        info.rendering = 'cutout';
        if (alpha.box) info.box = alpha.box;
      }
    } else if (wanted === 'cutout') {
      // An opaque "cut-out" is its whole frame.
      info.rendering = 'cutout';
      info.box = { left: 0, top: 0, width, height };
    }
    const usable =
      info.rendering === 'crop'
        ? Math.min(width, height) >= size
        : info.box !== undefined && Math.max(info.box.width, info.box.height) >= CUTOUT_MIN_SIDE;
    if (!usable) info.split = 'skipped';
    photos.push(info);
  }
  return photos;
}

/** Alpha below this counts as background when finding a cut-out's bounding box. */
const ALPHA_OBJECT = 16;

async function readAlpha(path: string, bytes: Buffer) {
  const { data, info } = await decodeRgba(path, bytes);
  let transparent = 0;
  let left = info.width;
  let top = info.height;
  let right = -1;
  let bottom = -1;
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      const a = data[(y * info.width + x) * 4 + 3]!;
      if (a === 0) transparent++;
      if (a >= ALPHA_OBJECT) {
        if (x < left) left = x;
        if (x > right) right = x;
        if (y < top) top = y;
        if (y > bottom) bottom = y;
      }
    }
  }
  const box =
    right < 0 ? undefined : { left, top, width: right - left + 1, height: bottom - top + 1 };
  return { width: info.width, height: info.height, transparent, box };
}

interface SplitSettings {
  seed: number;
  size: number;
  channels: 1 | 3;
  kernel: NonNullable<GeneralDatasetOptions['kernel']>;
  style: DomainStyle | undefined;
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
  const { size, channels, kernel, style, onProgress, concurrency, ...recorded } = s;
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
        builder: '@hierglow/datasets buildGeneralDataset v2',
        ...recorded,
        split,
        seedStream: STREAM[split],
        size,
        channels,
        kernel,
        crop: 'group uniform, photo uniform within it; square, side log-uniform in [size, shorter side], uniform position, horizontal flip p=0.5',
        cutout:
          "alpha bounding box (alpha >= 16) scaled so its longer side is U[size/2, size] at a uniform position on a uniform plain colour (broad), or U[objectMin, objectMax] centred on the style's background (domain)",
        domainCrop:
          "crop as above, resized to U[objectMin, objectMax], faded to the background by a radial mask (1 inside 0.6 of the half-side, cosine to 0 at the edge), centred; then the style's resize",
        grey:
          channels === 1 ? `floor(${GREY_WEIGHTS.join('·R + ')}·B) after downsampling RGB` : null,
        labels: 'index of the source photo in `photos`',
        photos: photos.map(
          ({ path, group, sha256, width, height, split, kind, package: pkg, rendering }) => ({
            path,
            group,
            sha256,
            width,
            height,
            split,
            kind,
            package: pkg,
            rendering,
          }),
        ),
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
      const source = await decodeSource(photo);
      let next = 0;
      const worker = async () => {
        while (next < slots.length) {
          const k = slots[next++]!;
          const rgb = await renderItem(source, plan[k]!, size, kernel, style);
          await writer.writeAt(k, finish(rgb, plan[k]!, size, channels, style), [photoIndex]);
          done++;
          onProgress?.({ split, done, total: plan.length });
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, slots.length) }, worker));
    }
    await writer.finish();
  } catch (e) {
    await writer.abort();
    throw e;
  }
}

/** A decoded source: RGB (crops) or the RGBA of the cut-out's box. */
interface DecodedSource {
  data: Buffer;
  width: number;
  height: number;
  channels: 3 | 4;
}

async function decodeSource(photo: PhotoInfo): Promise<DecodedSource> {
  const bytes = await readFile(photo.path);
  if (photo.rendering === 'cutout') {
    const { data, info } = await decodeRgba(photo.path, bytes);
    const box = photo.box!;
    const out = Buffer.alloc(box.width * box.height * 4);
    for (let y = 0; y < box.height; y++) {
      const from = ((box.top + y) * info.width + box.left) * 4;
      data.copy(out, y * box.width * 4, from, from + box.width * 4);
    }
    return { data: out, width: box.width, height: box.height, channels: 4 };
  }
  const { data, info } = isPattern(photo.path)
    ? decodePattern(bytes, photo.path)
    : await decodePhoto(photo.path, bytes);
  if (info.width !== photo.width || info.height !== photo.height) {
    throw new CorruptDatasetError(
      `${photo.path}: decoded to ${info.width}x${info.height}, the header said ${photo.width}x${photo.height}`,
    );
  }
  return { data, width: info.width, height: info.height, channels: 3 };
}

/**
 * Renders one planned image as RGB: `size`² for broad images, the style's `canvas`² for domain
 * ones (resized by {@link finish}).
 */
async function renderItem(
  src: DecodedSource,
  c: CropPlan,
  size: number,
  kernel: SplitSettings['kernel'],
  style: DomainStyle | undefined,
): Promise<Uint8Array> {
  const raw = { raw: { width: src.width, height: src.height, channels: src.channels } };
  if (src.channels === 3) {
    const side = c.domain ? c.place!.side : size;
    let img = sharp(src.data, raw)
      .extract({ left: c.left, top: c.top, width: c.side, height: c.side })
      .resize(side, side, { kernel });
    if (c.flip) img = img.flop();
    const rgb = new Uint8Array(await img.raw().toBuffer());
    if (!c.domain) return rgb;
    const frame = plainFrame(style!.canvas, c.place!.background);
    pasteMasked(frame, style!.canvas, rgb, side, c.place!.x, c.place!.y, c.place!.background);
    return frame;
  }
  const frameSide = c.domain ? style!.canvas : size;
  const { side, x, y, background } = c.place!;
  const scale = side / Math.max(src.width, src.height);
  const w = Math.max(1, Math.round(src.width * scale));
  const h = Math.max(1, Math.round(src.height * scale));
  let img = sharp(src.data, raw).resize(w, h, { kernel, fit: 'fill' });
  if (c.flip) img = img.flop();
  const rgba = new Uint8Array(await img.raw().toBuffer());
  const frame = plainFrame(frameSide, background);
  const ox = x + Math.floor((side - w) / 2);
  const oy = y + Math.floor((side - h) / 2);
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      const p = (j * w + i) * 4;
      const a = rgba[p + 3]! / 255;
      const q = ((oy + j) * frameSide + ox + i) * 3;
      for (let ch = 0; ch < 3; ch++)
        frame[q + ch] = Math.round(a * rgba[p + ch]! + (1 - a) * frame[q + ch]!);
    }
  }
  return frame;
}

function plainFrame(side: number, colour: readonly [number, number, number]): Uint8Array {
  const frame = new Uint8Array(side * side * 3);
  for (let p = 0; p < frame.length; p += 3) frame.set(colour, p);
  return frame;
}

/**
 * Pastes a square RGB crop at (x, y), faded into the background by a radial mask: 1 inside 0.6 of
 * the half-side, a cosine falling to 0 at the half-side, 0 beyond (so the frame's edge stays
 * exactly the background, as the in-distribution's does).
 */
function pasteMasked(
  frame: Uint8Array,
  frameSide: number,
  rgb: Uint8Array,
  side: number,
  x: number,
  y: number,
  background: readonly [number, number, number],
) {
  const half = side / 2;
  for (let j = 0; j < side; j++) {
    for (let i = 0; i < side; i++) {
      const r = Math.hypot(i + 0.5 - half, j + 0.5 - half) / half;
      const m = r <= 0.6 ? 1 : r >= 1 ? 0 : 0.5 * (1 + Math.cos((Math.PI * (r - 0.6)) / 0.4));
      const p = (j * side + i) * 3;
      const q = ((y + j) * frameSide + x + i) * 3;
      for (let ch = 0; ch < 3; ch++)
        frame[q + ch] = Math.round(m * rgb[p + ch]! + (1 - m) * background[ch]!);
    }
  }
}

/** Grey conversion, then (domain images) the style's resize with Pillow's bilinear. */
function finish(
  rgb: Uint8Array,
  c: CropPlan,
  size: number,
  channels: 1 | 3,
  style: DomainStyle | undefined,
): Uint8Array {
  const pixels = channels === 1 ? rgbToGreyBytes(rgb) : rgb;
  if (!c.domain) return pixels;
  const canvas = style!.canvas;
  return resizeBilinearPil(pixels, canvas, canvas, channels, size, size);
}

async function decodePhoto(path: string, bytes: Buffer) {
  try {
    return await sharp(bytes, { failOn: 'error' })
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

async function decodeRgba(path: string, bytes: Buffer) {
  try {
    return await sharp(bytes, { failOn: 'error' })
      .rotate()
      .toColourspace('srgb')
      .ensureAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new CorruptDatasetError(`${path}: cannot decode the image (${(e as Error).message})`, {
      cause: e,
    });
  }
}

/** GIMP's pattern files (`.pat`): a big-endian header, then raw 1-4 byte pixels. */
const PATTERN_EXTENSION = '.pat';

function isPattern(path: string): boolean {
  return path.toLowerCase().endsWith(PATTERN_EXTENSION);
}

/** Reads a `.pat` header: size, bytes per pixel, where the pixels start. */
export function readPatternHeader(bytes: Uint8Array, path: string) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 24) throw new CorruptDatasetError(`${path}: too short for a GIMP pattern`);
  const headerSize = view.getUint32(0);
  const version = view.getUint32(4);
  const width = view.getUint32(8);
  const height = view.getUint32(12);
  const depth = view.getUint32(16);
  const magic = String.fromCharCode(...bytes.subarray(20, 24));
  if (magic !== 'GPAT' || version !== 1)
    throw new CorruptDatasetError(
      `${path}: not a GIMP pattern (magic ${JSON.stringify(magic)}, version ${version})`,
    );
  if (depth < 1 || depth > 4 || width < 1 || height < 1 || headerSize < 24)
    throw new CorruptDatasetError(`${path}: bad GIMP pattern header (${width}x${height}x${depth})`);
  if (bytes.length < headerSize + width * height * depth) {
    throw new CorruptDatasetError(
      `${path}: truncated GIMP pattern: ${bytes.length} bytes, the header promises ${headerSize + width * height * depth}`,
    );
  }
  return { width, height, depth, headerSize };
}

/** Decodes a `.pat` to RGB (grey replicated; alpha flattened on black, as photos are). */
export function decodePattern(bytes: Uint8Array, path: string) {
  const { width, height, depth, headerSize } = readPatternHeader(bytes, path);
  const data = Buffer.alloc(width * height * 3);
  const hasAlpha = depth === 2 || depth === 4;
  const colour = depth >= 3;
  for (let p = 0; p < width * height; p++) {
    const q = headerSize + p * depth;
    const a = hasAlpha ? bytes[q + depth - 1]! / 255 : 1;
    for (let ch = 0; ch < 3; ch++) data[p * 3 + ch] = Math.round(a * bytes[q + (colour ? ch : 0)]!);
  }
  return { data, info: { width, height } };
}
