import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { EnvironmentVariables } from '../download/cache-dir.js';
import { type DebianFetchOptions, fetchDebianPackages } from './debian-packages.js';
import type { PhotoSource } from './general-builder.js';

/**
 * The photographs of Debian packages that make hierglow's general-distribution set (a substitute
 * for 80 Million Tiny Images, data-sources.md §2): which packages, which files of each, and how
 * they are grouped (a group is held out for validation as a whole: all frames of a clip, all face
 * crops of one person). {@link selectDebianPhotos} only reads an unpacked tree;
 * {@link fetchDebianPhotos} fetches the packages first.
 *
 * Changing a rule changes the dataset (its photos, hence every crop): the rules reproduce the
 * former scripts/build-general-dataset.sh exactly, and the tests pin them.
 */

/** Environment variable that overrides the folder of unpacked packages. */
export const DEBDATA_ENV_VAR = 'HIERGLOW_DEBDATA';

/**
 * The default folder of unpacked packages: `$HIERGLOW_DEBDATA`, else
 * `$XDG_CACHE_HOME/hierglow/debdata`, else `~/.cache/hierglow/debdata`.
 */
export function defaultDebianCacheDir(env: EnvironmentVariables = process.env): string {
  if (env[DEBDATA_ENV_VAR]) return env[DEBDATA_ENV_VAR]!;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'hierglow', 'debdata');
}

/**
 * Which files of an unpacked package to take; paths are relative to the package root. Folder
 * listings skip hidden names and are in code-point order (a shell glob under LC_COLLATE=C).
 */
export type PhotoRule =
  /** One file, if it exists. */
  | { kind: 'file'; path: string; group: string }
  /**
   * Every entry of `dir` named `prefix…suffix` (like the glob `dir/prefix*suffix`) except
   * `exclude`; with `every: n`, only the 1st, (n+1)th, … of them (near-duplicate video frames).
   */
  | {
      kind: 'glob';
      dir: string;
      prefix?: string;
      suffix: string;
      exclude?: readonly string[];
      every?: number;
      /** A fixed group, or one made from the file name. */
      group: string | ((name: string) => string);
    }
  /** The largest `<W>x<H>.<ext>` of `dir` (by width, then height), like plasma's wallpapers. */
  | { kind: 'largest-resolution'; dir: string; group: string }
  /** Every `*suffix` file of every subfolder of `dir`, one group per subfolder. */
  | { kind: 'per-folder'; dir: string; suffix: string; group: (folder: string) => string };

/** A Debian package of photographs and the rules that pick them. */
export interface DebianPhotoPackage {
  name: string;
  licence: string;
  rules: readonly PhotoRule[];
}

const PLASMA_PHOTOS = [
  'BytheWater',
  'ColdRipple',
  'ColorfulCups',
  'DarkestHour',
  'EveningGlow',
  'FallenLeaf',
  'Grey',
  'Kite',
  'OneStandsOut',
  'Path',
  'summer_1am',
] as const;

const SKIMAGE_PHOTOS = [
  'astronaut.png',
  'camera.png',
  'chelsea.png',
  'coffee.png',
  'coins.png',
  'rocket.jpg',
  'motorcycle_left.png',
  'motorcycle_right.png',
  'hubble_deep_field.jpg',
  'moon.png',
  // Textures.
  'brick.png',
  'grass.png',
  'gravel.png',
] as const;

const SKIMAGE = 'usr/lib/python3/dist-packages/skimage/data';
const LABELME = 'usr/share/doc/labelme-examples/examples';
const DLIB = 'usr/share/doc/libdlib19.1/examples';

/**
 * The packages allowed as photo sources (data-sources.md §2; the optional tuxpaint stamps are left
 * out) with their selection rules.
 */
export const DEBIAN_PHOTO_PACKAGES: readonly DebianPhotoPackage[] = [
  {
    // The 11 photographs among the 30 wallpapers, each at its largest resolution.
    name: 'plasma-workspace-wallpapers',
    licence: 'GPL-2+',
    rules: PLASMA_PHOTOS.map((w) => ({
      kind: 'largest-resolution',
      dir: `usr/share/wallpapers/${w}/contents/images`,
      group: `plasma:${w}`,
    })),
  },
  {
    // Demo snapshots, not the Qt logo.
    name: 'kphotoalbum',
    licence: 'GPL-2+',
    rules: [
      {
        kind: 'glob',
        dir: 'usr/share/kphotoalbum/demo',
        suffix: '.jpg',
        exclude: ['qt-logo.jpg'],
        group: (f) => `kphotoalbum:${f}`,
      },
    ],
  },
  {
    // Photographs and textures, not the drawings, text or synthetic test images.
    name: 'python3-skimage',
    licence: 'BSD-3-Clause',
    rules: SKIMAGE_PHOTOS.map((f) => ({
      kind: 'file',
      path: `${SKIMAGE}/${f}`,
      group: `skimage:${f}`,
    })),
  },
  {
    // Three VOC photos, the cat and the dog, the shelf, and one street clip (one group).
    name: 'labelme-examples',
    licence: 'GPL-3+',
    rules: [
      ...['2011_000003', '2011_000006', '2011_000025'].map((f) => ({
        kind: 'file' as const,
        path: `${LABELME}/semantic_segmentation/data_dataset_voc/JPEGImages/${f}.jpg`,
        group: `labelme:${f}`,
      })),
      {
        kind: 'file',
        path: `${LABELME}/classification/data_annotated/0001.jpg`,
        group: 'labelme:cat',
      },
      {
        kind: 'file',
        path: `${LABELME}/classification/data_annotated/0002.jpg`,
        group: 'labelme:dog',
      },
      { kind: 'file', path: `${LABELME}/tutorial/apc2016_obj3.jpg`, group: 'labelme:apc2016' },
      {
        kind: 'glob',
        dir: `${LABELME}/video_annotation/data_dataset_voc/JPEGImages`,
        suffix: '.jpg',
        group: 'labelme:street-clip',
      },
    ],
  },
  {
    // Group photos and street scenes; face crops grouped by person; the video clip as one group,
    // every 10th frame (neighbours are near-duplicates).
    name: 'libdlib19.1',
    licence: 'Boost-1.0',
    rules: [
      { kind: 'glob', dir: `${DLIB}/faces`, suffix: '.jpg', group: (f) => `dlib:${f}` },
      {
        kind: 'glob',
        dir: DLIB,
        prefix: 'mmod_cars_test_image',
        suffix: '.jpg',
        group: (f) => `dlib:${f}`,
      },
      { kind: 'per-folder', dir: `${DLIB}/johns`, suffix: '.jpg', group: (d) => `dlib:johns:${d}` },
      { kind: 'glob', dir: `${DLIB}/video_frames`, suffix: '.jpg', every: 10, group: 'dlib:video' },
    ],
  },
  {
    // Astronomy photographs.
    name: 'mate-screensaver-common',
    licence: 'GPL-2+ or LGPL-2+',
    rules: [
      {
        kind: 'glob',
        dir: 'usr/share/backgrounds/cosmos',
        suffix: '.jpg',
        group: (f) => `cosmos:${f}`,
      },
    ],
  },
  {
    // The Colosseum.
    name: 'budgie-core',
    licence: 'CC0-1.0',
    rules: [
      { kind: 'file', path: 'usr/share/backgrounds/budgie/default.jpg', group: 'budgie:colosseum' },
    ],
  },
];

/** The photos found in an unpacked cache folder. */
export interface DebianPhotoSelection {
  /** Absolute paths with their groups, in rule order. */
  sources: Required<PhotoSource>[];
  /** Files or patterns of the rules that matched nothing (a package of another version?). */
  missing: string[];
}

/**
 * Applies the rules of `packages` to `<cacheDir>/<package>` (unpacked trees); reads folders only.
 * A rule that finds nothing is reported in `missing`, not an error, so that a package version
 * without one photo still builds (the provenance of the dataset lists the photos used).
 */
export async function selectDebianPhotos(
  cacheDir: string,
  packages: readonly DebianPhotoPackage[] = DEBIAN_PHOTO_PACKAGES,
): Promise<DebianPhotoSelection> {
  const selection: DebianPhotoSelection = { sources: [], missing: [] };
  for (const pkg of packages) {
    const root = join(resolve(cacheDir), pkg.name);
    for (const rule of pkg.rules) await applyRule(root, rule, selection);
  }
  return selection;
}

async function applyRule(root: string, rule: PhotoRule, out: DebianPhotoSelection) {
  const add = (group: string, path: string) => out.sources.push({ group, path });
  const found = out.sources.length;
  let pattern: string;
  switch (rule.kind) {
    case 'file': {
      pattern = join(root, rule.path);
      if (await isFile(pattern)) add(rule.group, pattern);
      break;
    }
    case 'glob': {
      const dir = join(root, rule.dir);
      const prefix = rule.prefix ?? '';
      pattern = join(dir, `${prefix}*${rule.suffix}`);
      const matches = (await listNames(dir)).filter(
        (n) =>
          n.startsWith(prefix) &&
          n.endsWith(rule.suffix) &&
          n.length >= prefix.length + rule.suffix.length,
      );
      // `every` counts all matches, files or not, as the shell loop it replaces did.
      for (const [i, name] of matches.entries()) {
        if (rule.exclude?.includes(name) || i % (rule.every ?? 1) !== 0) continue;
        const path = join(dir, name);
        if (await isFile(path))
          add(typeof rule.group === 'string' ? rule.group : rule.group(name), path);
      }
      break;
    }
    case 'largest-resolution': {
      const dir = join(root, rule.dir);
      pattern = join(dir, '<W>x<H>.*');
      const best = largestResolution(await listNames(dir));
      if (best !== undefined && (await isFile(join(dir, best)))) add(rule.group, join(dir, best));
      break;
    }
    case 'per-folder': {
      const dir = join(root, rule.dir);
      pattern = join(dir, `*/*${rule.suffix}`);
      for (const folder of await listNames(dir)) {
        const sub = join(dir, folder);
        if (!(await isDirectory(sub))) continue;
        for (const name of await listNames(sub)) {
          const path = join(sub, name);
          if (name.endsWith(rule.suffix) && (await isFile(path))) add(rule.group(folder), path);
        }
      }
      break;
    }
  }
  if (out.sources.length === found) out.missing.push(pattern);
}

/**
 * The name with the largest `<W>x<H>` (width first, then height; a name without a number counts
 * as 0, ties go to the last name in code-point order), as `sort -t x -k1,1n -k2,2n | tail -n 1`.
 */
export function largestResolution(names: readonly string[]): string | undefined {
  const key = (n: string) => {
    const [w = '', h = ''] = n.split('x');
    return [leadingNumber(w), leadingNumber(h)] as const;
  };
  let best: string | undefined;
  for (const n of names) {
    if (best === undefined) {
      best = n;
      continue;
    }
    const [w, h] = key(n);
    const [bw, bh] = key(best);
    if (w > bw || (w === bw && (h > bh || (h === bh && n > best)))) best = n;
  }
  return best;
}

/** The number a name starts with (`1080.jpg` → 1080), or 0, as `sort -n` reads a field. */
function leadingNumber(s: string): number {
  const m = /^\s*(-?\d+(?:\.\d*)?)/.exec(s);
  return m ? Number(m[1]) : 0;
}

/** Non-hidden entry names of a folder in code-point order; none when it is not a folder. */
async function listNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => !n.startsWith('.')).sort(byCodePoint);
  } catch {
    return [];
  }
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Follows symbolic links (some wallpaper sizes are links to another size). */
async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** Options of {@link fetchDebianPhotos}. */
export interface DebianPhotosOptions extends Omit<DebianFetchOptions, 'cacheDir'> {
  /** Default {@link defaultDebianCacheDir}. */
  cacheDir?: string;
}

/** What {@link fetchDebianPhotos} found. */
export interface DebianPhotos extends DebianPhotoSelection {
  cacheDir: string;
}

/**
 * Fetches the packages of {@link DEBIAN_PHOTO_PACKAGES} not yet unpacked in the cache folder
 * (`apt-get download` + `dpkg-deb -x`; nothing is installed) and selects their photos: the
 * `sources` for {@link buildGeneralDataset}. Needs apt-get and dpkg-deb only when a package is
 * not cached yet.
 */
export async function fetchDebianPhotos(options: DebianPhotosOptions = {}): Promise<DebianPhotos> {
  const cacheDir = resolve(options.cacheDir ?? defaultDebianCacheDir());
  await fetchDebianPackages(
    DEBIAN_PHOTO_PACKAGES.map((p) => p.name),
    { ...options, cacheDir },
  );
  return { cacheDir, ...(await selectDebianPhotos(cacheDir)) };
}
