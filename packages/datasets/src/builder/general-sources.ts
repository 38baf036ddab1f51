import { readdir, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { fetchDebianPackages } from './debian-packages.js';
import {
  DEBIAN_PHOTO_PACKAGES,
  type DebianPhotosOptions,
  defaultDebianCacheDir,
  selectDebianPhotos,
} from './debian-photos.js';
import type { ImageKind, ImageSource, Rendering } from './general-builder.js';

/**
 * The broad general distribution's sources (data-sources.md §2 and §2b): many kinds of images
 * from Debian packages, each file with its kind (photo, art, game art, object cut-out, icon,
 * texture, astronomy) and how it is rendered (random crops of an opaque image, or a cut-out
 * composited on a background). The recipe that mixes them is fixed in docs/general-distribution.md
 * and in {@link buildGeneralDataset}'s `balance: 'kind'`: kinds weigh equally, packages weigh
 * equally inside a kind, groups weigh equally inside a package.
 *
 * Text never enters: {@link isTextLike} rejects by folder and file name every image of letters,
 * digits, text, glyphs, fonts, math or money symbols, flags and signs, in every package, and the
 * rules below also skip whole folders known to hold them (tuxpaint's `symbols/`, UI art).
 */

/**
 * Words that mark an image of text, glyphs or symbols when they stand as a whole word of a folder
 * or file name (split at `/ _ - . space` and camelCase). Deliberately broad: a wrongly skipped
 * picture costs nothing, a digit or letter let in breaks the MNIST evaluation.
 */
const TEXT_WORDS = new Set([
  'abc',
  'alphabet',
  'alphabets',
  'asl',
  'calc',
  'calculator',
  'calendar',
  'caption',
  'captions',
  'char',
  'character',
  'characters',
  'chess',
  'clock',
  'coin',
  'coins',
  'credits',
  'currency',
  'dictionary',
  'digit',
  'digits',
  'dollar',
  'euro',
  'flag',
  'flags',
  'font',
  'fontforge',
  'formula',
  'fonts',
  'glyph',
  'glyphs',
  'help',
  'html',
  'important',
  'information',
  'keyboard',
  'label',
  'language',
  'labels',
  'letter',
  'letters',
  'logo',
  'logos',
  'lowercase',
  'math',
  'mathematics',
  'maths',
  'money',
  'music',
  'notation',
  'number',
  'numbers',
  'numeral',
  'numerals',
  'operators',
  'pound',
  'roadsigns',
  'script',
  'sign',
  'signs',
  'symbol',
  'symbols',
  'sudoku',
  'terminal',
  'text',
  'texts',
  'thesaurus',
  'title',
  'titles',
  'translation',
  'txt',
  'typography',
  'uppercase',
  'warning',
  'yen',
]);

/** Splits a path into lower-case words: at separators, digits, and camelCase boundaries. */
export function pathWords(path: string): string[] {
  return path
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z]+/)
    .filter((w) => w.length > 0);
}

/**
 * True when a path (relative to its package) names an image of text, digits, glyphs, fonts, math
 * or money symbols, flags or signs: one of its folder or file-name words is such a word, or a file
 * name is a single character or a one- or two-digit number (`a.png`, `7.png`, `12.png`; longer
 * numbers are frame counters of photos, `0001.jpg`).
 */
export function isTextLike(relativePath: string): boolean {
  if (pathWords(relativePath).some((w) => TEXT_WORDS.has(w))) return true;
  const base = relativePath.split(/[\\/]/).pop() ?? '';
  const stem = base.replace(/\.[^.]*$/, '');
  return /^[a-z0-9]$/i.test(stem) || /^\d{1,2}$/.test(stem);
}

/** How one rule's files are grouped for validation hold-out and for weighting. */
export type GroupBy = 'file' | 'folder';

/** Selects files of an unpacked package by walking a folder. */
export interface TreeRule {
  /** Folder relative to the package root, walked recursively. */
  dir: string;
  /** Lower-case extensions, e.g. `['.png', '.jpg']`. */
  extensions: readonly string[];
  kind: ImageKind;
  rendering: Rendering;
  /** `file`: every file is its own group; `folder`: a folder's files (frames of a sprite) are one. */
  groupBy: GroupBy;
  /** Sub-folders (relative to `dir`, first segment) not walked. */
  skipFolders?: readonly string[];
  /** File names (without extension) matching this are skipped (UI pieces, masks). */
  skipNames?: RegExp;
}

/** A package of the broad set and its rules. */
export interface GeneralSourcePackage {
  name: string;
  licence: string;
  rules: readonly TreeRule[];
}

const IMG = ['.png', '.jpg', '.jpeg', '.webp'] as const;
const PNG = ['.png'] as const;

/** Kinds of the photo packages' files (the rest of them are photographs). */
const PHOTO_PACKAGE_KINDS: Readonly<Record<string, ImageKind>> = {
  'skimage:brick.png': 'texture',
  'skimage:grass.png': 'texture',
  'skimage:gravel.png': 'texture',
  'skimage:hubble_deep_field.jpg': 'astronomy',
  'skimage:moon.png': 'astronomy',
};

/** The kind of a photo package's file from its group (mate's cosmos backgrounds are astronomy). */
function photoPackageKind(group: string): ImageKind {
  return PHOTO_PACKAGE_KINDS[group] ?? (group.startsWith('cosmos:') ? 'astronomy' : 'photo');
}

/**
 * The packages of data-sources.md §2b with their rules (the §2 photo packages come from
 * {@link DEBIAN_PHOTO_PACKAGES}). `marble-data` is listed there but ships no raster images in
 * bookworm's version, so it is not fetched.
 */
export const DEBIAN_BROAD_PACKAGES: readonly GeneralSourcePackage[] = [
  {
    name: 'tuxpaint-stamps-default',
    licence: 'GPL-2',
    rules: [
      {
        dir: 'usr/share/tuxpaint/stamps',
        extensions: PNG,
        kind: 'object',
        rendering: 'cutout',
        groupBy: 'file',
        skipFolders: ['symbols'],
      },
    ],
  },
  {
    name: 'wesnoth-1.16-data',
    licence: 'GPL-2+',
    rules: [
      {
        dir: 'usr/share/games/wesnoth/1.16/data/core/images/units',
        extensions: PNG,
        kind: 'game-art',
        rendering: 'cutout',
        groupBy: 'folder',
      },
      {
        dir: 'usr/share/games/wesnoth/1.16/data/core/images/items',
        extensions: PNG,
        kind: 'object',
        rendering: 'cutout',
        groupBy: 'file',
      },
      {
        dir: 'usr/share/games/wesnoth/1.16/data/core/images/portraits',
        extensions: PNG,
        kind: 'art',
        rendering: 'cutout',
        groupBy: 'file',
      },
      {
        dir: 'usr/share/games/wesnoth/1.16/data/core/images/story',
        extensions: IMG,
        kind: 'art',
        rendering: 'crop',
        groupBy: 'file',
      },
    ],
  },
  {
    name: 'hedgewars-data',
    licence: 'GPL-2',
    rules: [
      {
        dir: 'usr/share/games/hedgewars/Data/Themes',
        extensions: PNG,
        kind: 'game-art',
        rendering: 'auto',
        groupBy: 'folder',
        skipNames: /^(icon|border|chunk|flake|girder|ammo)/i,
      },
    ],
  },
  {
    name: 'stellarium-data',
    licence: 'GPL-2+',
    rules: [
      {
        dir: 'usr/share/stellarium/nebulae/default',
        extensions: IMG,
        kind: 'astronomy',
        rendering: 'crop',
        groupBy: 'file',
      },
      {
        dir: 'usr/share/stellarium/landscapes',
        extensions: IMG,
        kind: 'photo',
        rendering: 'crop',
        groupBy: 'folder',
        skipNames: /(fog|illum|mask)/i,
      },
    ],
  },
  {
    name: 'gnome-backgrounds',
    licence: 'CC-BY-SA-3.0 and others',
    rules: [
      {
        dir: 'usr/share/backgrounds/gnome',
        extensions: IMG,
        kind: 'art',
        rendering: 'crop',
        groupBy: 'file',
      },
    ],
  },
  {
    name: 'gimp-data',
    licence: 'GPL-3+',
    rules: [
      {
        dir: 'usr/share/gimp/2.0/patterns',
        extensions: ['.pat'],
        kind: 'texture',
        rendering: 'crop',
        groupBy: 'file',
      },
    ],
  },
  {
    name: 'oxygen-icon-theme',
    licence: 'LGPL-3',
    // Application and category icons are left out whole: many carry letters, digits or symbols.
    rules: ['devices', 'emblems', 'emotes', 'places', 'status'].map((folder) => ({
      dir: `usr/share/icons/oxygen/base/128x128/${folder}`,
      extensions: PNG,
      kind: 'icon' as const,
      rendering: 'cutout' as const,
      groupBy: 'file' as const,
    })),
  },
  {
    name: 'extremetuxracer-data',
    licence: 'GPL-2+',
    rules: [
      {
        dir: 'usr/share/games/etr/terrains',
        extensions: PNG,
        kind: 'texture',
        rendering: 'crop',
        groupBy: 'file',
      },
    ],
  },
  {
    name: 'ukui-wallpapers',
    licence: 'GPL-2+',
    rules: [
      {
        dir: 'usr/share/backgrounds',
        extensions: IMG,
        kind: 'art',
        rendering: 'crop',
        groupBy: 'file',
      },
    ],
  },
  {
    name: 'propaganda-debian',
    licence: 'GPL-2+',
    rules: [
      {
        dir: 'usr/share/wallpapers',
        extensions: IMG,
        kind: 'art',
        rendering: 'crop',
        groupBy: 'file',
      },
    ],
  },
];

/** What {@link selectGeneralSources} found. */
export interface GeneralSourceSelection {
  sources: ImageSource[];
  /** Files skipped by {@link isTextLike}, relative to the cache folder (for the summary). */
  skippedAsText: string[];
  /** Rules that matched nothing (a package of another version?). */
  missing: string[];
}

/** The two recipes: the §2 photographs only, or every kind of §2 and §2b. */
export type GeneralSourceSet = 'photos' | 'broad';

/**
 * Lists the images of a set in an unpacked cache folder; reads folders only. For `broad`, the
 * photo packages' files keep their groups and get kinds from their names; every file of every
 * package passes {@link isTextLike} first.
 */
export async function selectGeneralSources(
  cacheDir: string,
  set: GeneralSourceSet,
): Promise<GeneralSourceSelection> {
  const root = resolve(cacheDir);
  const photos = await selectDebianPhotos(root);
  const out: GeneralSourceSelection = { sources: [], skippedAsText: [], missing: photos.missing };
  for (const p of photos.sources) {
    const pkg = relative(root, p.path).split(sep)[0]!;
    const rel = relative(join(root, pkg), p.path);
    if (set === 'broad' && isTextLike(rel)) {
      out.skippedAsText.push(relative(root, p.path));
      continue;
    }
    out.sources.push({
      path: p.path,
      group: p.group,
      package: pkg,
      kind: photoPackageKind(p.group),
      rendering: 'crop',
    });
  }
  if (set === 'photos') return out;
  for (const pkg of DEBIAN_BROAD_PACKAGES) {
    const pkgRoot = join(root, pkg.name);
    for (const rule of pkg.rules) {
      const base = join(pkgRoot, rule.dir);
      const files = await walk(base, rule.skipFolders ?? []);
      let found = 0;
      for (const file of files) {
        const lower = file.toLowerCase();
        if (!rule.extensions.some((e) => lower.endsWith(e))) continue;
        const name = file
          .split('/')
          .pop()!
          .replace(/\.[^.]*$/, '');
        if (rule.skipNames?.test(name)) continue;
        const rel = join(rule.dir, file);
        if (isTextLike(rel)) {
          out.skippedAsText.push(join(pkg.name, rel));
          continue;
        }
        const folder = file.includes('/') ? file.slice(0, file.lastIndexOf('/')) : '.';
        out.sources.push({
          path: join(base, file),
          group: `${pkg.name}:${rule.groupBy === 'file' ? join(rule.dir, file) : join(rule.dir, folder)}`,
          package: pkg.name,
          kind: rule.kind,
          rendering: rule.rendering,
        });
        found++;
      }
      if (found === 0) out.missing.push(join(pkgRoot, rule.dir));
    }
  }
  return out;
}

/** Files below `dir` as `/`-separated relative paths in code-point order, hidden names skipped. */
async function walk(dir: string, skipTop: readonly string[], prefix = ''): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.'));
  } catch {
    return [];
  }
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: string[] = [];
  for (const n of names) {
    if (prefix === '' && skipTop.includes(n)) continue;
    const full = join(dir, n);
    const info = await stat(full).catch(() => undefined);
    if (!info) continue;
    const rel = prefix ? `${prefix}/${n}` : n;
    if (info.isDirectory()) out.push(...(await walk(full, skipTop, rel)));
    else if (info.isFile()) out.push(rel);
  }
  return out;
}

/** Packages a set needs. */
export function generalSourcePackages(set: GeneralSourceSet): string[] {
  const photos = DEBIAN_PHOTO_PACKAGES.map((p) => p.name);
  return set === 'photos' ? photos : [...photos, ...DEBIAN_BROAD_PACKAGES.map((p) => p.name)];
}

/** Fetches the packages of a set not yet in the cache, then {@link selectGeneralSources}. */
export async function fetchGeneralSources(
  set: GeneralSourceSet,
  options: DebianPhotosOptions = {},
): Promise<GeneralSourceSelection & { cacheDir: string }> {
  const cacheDir = resolve(options.cacheDir ?? defaultDebianCacheDir());
  await fetchDebianPackages(generalSourcePackages(set), { ...options, cacheDir });
  return { cacheDir, ...(await selectGeneralSources(cacheDir, set)) };
}
