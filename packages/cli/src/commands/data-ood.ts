import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildGeneralDataset,
  createRng,
  type ImageDataset,
  randomPermutation,
  subsetDataset,
} from '@hierglow/datasets';
import type { Command } from '../command.js';
import { openDataRef } from '../data/data-source.js';
import {
  ALLOWED_FONT_PACKAGES,
  constantImages,
  ensureDigitTools,
  fontFiles,
  greyImages,
  renderDigits,
  uniformNoise,
  writeDatasetAtomic,
} from '../data/ood-sets.js';
import { booleanFlag, numberFlag, requiredStringFlag, stringFlag } from '../util/args.js';
import { writeJsonAtomic } from '../util/atomic-write.js';
import { UsageError } from '../util/errors.js';

const OOD_SETS = ['digits', 'noise', 'constant', 'photos'] as const;
type OodSet = (typeof OOD_SETS)[number];

function listFlag<T extends string>(
  values: Record<string, unknown>,
  name: string,
  allowed: readonly T[],
  fallback: readonly T[],
): T[] {
  const v = stringFlag(values, name);
  if (v === undefined) return [...fallback];
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const i of items) {
    if (!allowed.includes(i as T))
      throw new UsageError(`--${name}: '${i}' is not one of ${allowed.join(', ')}`);
  }
  return items as T[];
}

/** `hierglow data build-ood`: the OOD sets of the grey reproduction, in the .hgds format. */
export const dataBuildOodCommand: Command = {
  name: 'data build-ood',
  summary: 'build grey OOD sets: font-rendered digits, photo crops, noise, constant images (.hgds)',
  usage:
    'hierglow data build-ood --out DIR [--sets digits,noise,constant,photos] [--photos GENERAL_DIR]',
  options: {
    out: { type: 'string' },
    sets: { type: 'string' },
    photos: { type: 'string' },
    'photos-split': { type: 'string' },
    count: { type: 'string' },
    size: { type: 'string' },
    seed: { type: 'string' },
    'font-packages': { type: 'string' },
  },
  noBackend: true,
  help: [
    '  --out DIR                 writes DIR/<set>.hgds and DIR/manifest.json (required)',
    '  --sets LIST               any of digits,noise,constant,photos (default: digits,noise,',
    '                            constant, plus photos when --photos is given)',
    "  --photos PATH             the general builder's folder (or a .hgds): photos.hgds holds",
    '                            crops of photographs the general model never saw: its held-out',
    '                            split, or for a broad set --count fresh crops of its held-out',
    '                            photographs',
    '  --photos-split NAME       (default validation)',
    '  --count N                 images of noise and of constant (default 2000)',
    '  --size N                  side of digits, noise and constant images (default 28, MNIST-like)',
    '  --seed S                  (default 0)',
    '  --font-packages LIST      comma-separated subset of the allowed font packages',
    '                            (default: all of data-sources.md §3)',
    '',
    'digits: 0-9 of every font of the allowed Debian font packages, MNIST recipe (glyph fit to',
    '20x20 keeping its aspect ratio, pasted into 28x28, centre of mass centred, white on black),',
    "rasterised by Debian's python3-pil; identical bitmaps dropped. Installs python3-pil and",
    'the fonts with apt-get when root. noise: uniform i.i.d. pixels. constant: one uniform',
    'random grey level per image. A set whose file exists is kept (delete it to rebuild).',
  ],
  async run({ values }, io) {
    const out = requiredStringFlag(values, 'out', 'data build-ood', 'DIR');
    const photos = stringFlag(values, 'photos');
    const sets = listFlag<OodSet>(
      values,
      'sets',
      OOD_SETS,
      photos ? OOD_SETS : ['digits', 'noise', 'constant'],
    );
    if (sets.includes('photos') && !photos)
      throw new UsageError('--sets photos needs --photos GENERAL_DIR');
    const count = numberFlag(values, 'count', 2000, { min: 1, integer: true });
    const size = numberFlag(values, 'size', 28, { min: 2, integer: true });
    const seed = numberFlag(values, 'seed', 0, { integer: true });
    const fontPackages = listFlag(
      values,
      'font-packages',
      ALLOWED_FONT_PACKAGES,
      ALLOWED_FONT_PACKAGES,
    );
    await mkdir(out, { recursive: true });
    const manifest: Record<string, unknown> = {};
    const log = (line: string) => io.err(line);
    for (const set of sets) {
      const path = join(out, `${set}.hgds`);
      if (existsSync(path)) {
        log(`${path} exists; kept`);
        continue;
      }
      if (set === 'digits') {
        if (size !== 28)
          log(
            'note: digits are always 28x28 (the MNIST recipe); --size applies to noise and constant',
          );
        await ensureDigitTools(fontPackages, log);
        const fonts = await fontFiles(fontPackages);
        if (fonts.length === 0)
          throw new UsageError('no font files found in the allowed font packages', 1);
        const d = await renderDigits(fonts);
        const provenance = {
          format: 'rendered-digits',
          sources: d.fonts,
          details: {
            builder: 'hierglow data build-ood',
            recipe:
              'glyph rendered at 160 px, cropped to its ink, LANCZOS-fit into 20x20 keeping the aspect ratio, pasted into 28x28 with its centre of mass at the centre (whole pixels), white on black',
            packages: fontPackages,
            duplicatesDropped: d.duplicates,
          },
        };
        await writeDatasetAtomic(
          path,
          greyImages(d.pixels, 28, 'rendered digits', provenance, d.labels, [...'0123456789']),
        );
        log(
          `${path}: ${d.labels.length} digits from ${d.fonts.length} fonts (${d.duplicates} duplicate bitmaps dropped)`,
        );
        manifest.digits = { file: `${set}.hgds`, count: d.labels.length, fonts: d.fonts.length };
      } else if (set === 'noise' || set === 'constant') {
        const pixels =
          set === 'noise' ? uniformNoise(count, size, seed) : constantImages(count, size, seed + 1);
        const provenance = {
          format: `synthetic-${set}`,
          sources: [],
          details: { builder: 'hierglow data build-ood', seed, size, count },
        };
        await writeDatasetAtomic(path, greyImages(pixels, size, set, provenance));
        log(`${path}: ${count} ${set} images ${size}x${size}`);
        manifest[set] = { file: `${set}.hgds`, count, size, seed };
      } else {
        const split = stringFlag(values, 'photos-split', 'validation');
        const ds = await openDataRef({ flag: 'photos', source: photos!, split });
        try {
          const heldOut = heldOutPhotographs(ds);
          if (heldOut) {
            // A broad general set mixes kinds and renderings: render fresh broad crops of its
            // held-out photographs only, so "photos" are photographs the general model never saw.
            if (heldOut.length === 0)
              throw new UsageError(`--photos: ${ds.description} holds out no photographs`, 1);
            const tmp = await mkdtemp(join(out, '.photos-'));
            try {
              const built = await buildGeneralDataset({
                sources: heldOut,
                outDir: tmp,
                trainCount: count,
                validationCount: 0,
                size: ds.height,
                channels: ds.channels === 1 ? 1 : 3,
                seed,
              });
              await rename(built.train, path);
            } finally {
              await rm(tmp, { recursive: true, force: true });
            }
            log(
              `${path}: ${count} crops of ${heldOut.length} held-out photographs of ${ds.description}`,
            );
            manifest.photos = { file: `${set}.hgds`, count, photographs: heldOut.length };
          } else {
            if (ds.channels !== 1)
              log(`note: ${ds.description} is RGB; the model converts it to grey`);
            const all = subsetDataset(
              ds,
              Int32Array.from({ length: ds.count }, (_, i) => i),
            );
            await writeDatasetAtomic(path, all);
            log(`${path}: ${ds.count} photo crops from ${ds.description}`);
            manifest.photos = { file: `${set}.hgds`, count: ds.count, source: ds.description };
          }
        } finally {
          await ds.close();
        }
      }
    }
    const manifestPath = join(out, 'manifest.json');
    await writeJsonAtomic(manifestPath, { builder: 'hierglow data build-ood', sets: manifest });
    io.out(out);
    return 0;
  },
};

/**
 * The held-out photographs of a general set built with kinds (the broad recipe): validation-split
 * sources of kind 'photo' rendered as crops, as builder sources; undefined for a photos-only set
 * (whose validation split is photo crops already).
 */
function heldOutPhotographs(ds: ImageDataset): { path: string; group: string }[] | undefined {
  const photos = ds.provenance.details?.photos;
  if (!Array.isArray(photos) || !photos.some((p) => typeof p?.kind === 'string')) return undefined;
  const kinds = new Set(photos.map((p) => p.kind));
  if (kinds.size === 1 && kinds.has('photo')) return undefined;
  return photos
    .filter((p) => p.split === 'validation' && p.kind === 'photo' && p.rendering === 'crop')
    .map((p) => ({ path: String(p.path), group: String(p.group) }));
}

/** `hierglow data split-classes`: in-distribution and held-out classes of a labelled set. */
export const dataSplitClassesCommand: Command = {
  name: 'data split-classes',
  summary: 'split a labelled set by class: train/test on some classes, the rest as OOD',
  usage: 'hierglow data split-classes --data NAME|PATH --holdout 5,7,9 --out DIR',
  options: { data: { type: 'string' }, holdout: { type: 'string' }, out: { type: 'string' } },
  noBackend: true,
  help: [
    '  --data NAME|PATH          a labelled set with train and test splits (e.g. fashion-mnist)',
    '  --holdout LIST            classes left out of training (comma-separated indices)',
    '  --out DIR                 writes train.hgds and test.hgds (kept classes) and',
    '                            test-heldout.hgds (held-out classes of the test split)',
  ],
  async run({ values }, io) {
    const source = requiredStringFlag(values, 'data', 'data split-classes', 'NAME|PATH');
    const out = requiredStringFlag(values, 'out', 'data split-classes', 'DIR');
    const raw = requiredStringFlag(
      values,
      'holdout',
      'data split-classes',
      'LIST of class indices',
    );
    const holdout = new Set(raw.split(',').map((s) => Number(s.trim())));
    if ([...holdout].some((c) => !Number.isInteger(c) || c < 0)) {
      throw new UsageError(`--holdout must list class indices, got '${raw}'`);
    }
    await mkdir(out, { recursive: true });
    for (const split of ['train', 'test'] as const) {
      const ds = await openDataRef({ flag: 'data', source, split });
      try {
        if (!ds.labels) throw new UsageError(`--data: ${ds.description} has no labels`, 1);
        const labels = ds.labels;
        const pick = (keep: boolean) =>
          Int32Array.from(labels.keys()).filter((i) => holdout.has(labels[i]!) !== keep);
        const parts: [string, Int32Array][] = [[`${split}.hgds`, pick(true)]];
        if (split === 'test') parts.push(['test-heldout.hgds', pick(false)]);
        for (const [name, indices] of parts) {
          const details = { heldOutClasses: [...holdout], split, source };
          await writeDatasetAtomic(join(out, name), subsetDataset(ds, indices, details), {
            format: ds.provenance.format,
            sources: ds.provenance.sources,
            details: { ...ds.provenance.details, ...details },
          });
          io.err(`${join(out, name)}: ${indices.length} images`);
        }
      } finally {
        await ds.close();
      }
    }
    io.out(out);
    return 0;
  },
};

/** `hierglow data subset`: a seeded random sample of a dataset as `.hgds` (e.g. the demo data). */
export const dataSubsetCommand: Command = {
  name: 'data subset',
  summary: 'write a seeded random sample of a dataset as .hgds',
  usage:
    'hierglow data subset --data NAME|PATH --count N --out FILE.hgds [--split NAME] [--seed S] [--ignore-labels]',
  options: {
    data: { type: 'string' },
    split: { type: 'string' },
    'ignore-labels': { type: 'boolean' },
    count: { type: 'string' },
    seed: { type: 'string' },
    out: { type: 'string' },
  },
  noBackend: true,
  help: [
    '  --data NAME|PATH          source dataset   --split NAME (default train)',
    '  --count N                 images to keep (in source order, chosen uniformly at random)',
    '  --seed S                  (default 0)',
    '  --out FILE.hgds           written atomically; labels and provenance are kept',
    '  --ignore-labels           copy the images only (CIFAR-layout records with any label bytes)',
  ],
  async run({ values }, io) {
    const source = requiredStringFlag(values, 'data', 'data subset', 'NAME|PATH');
    const out = requiredStringFlag(values, 'out', 'data subset', 'FILE.hgds');
    const count = numberFlag(values, 'count', 0, { min: 1, integer: true });
    const seed = numberFlag(values, 'seed', 0, { integer: true });
    const split = stringFlag(values, 'split', 'train');
    const ignoreLabels = booleanFlag(values, 'ignore-labels');
    const ds = await openDataRef({ flag: 'data', source, split, ignoreLabels });
    try {
      const order = randomPermutation(ds.count, createRng(seed));
      const chosen = Int32Array.from(order.subarray(0, Math.min(count, ds.count))).sort();
      const details = { subsetOf: ds.description, split, count: chosen.length, seed };
      await writeDatasetAtomic(out, subsetDataset(ds, chosen, details), {
        format: ds.provenance.format,
        sources: ds.provenance.sources,
        details: { ...ds.provenance.details, ...details },
      });
      io.err(`${out}: ${chosen.length} of ${ds.count} images of ${ds.description}`);
    } finally {
      await ds.close();
    }
    io.out(out);
    return 0;
  },
};
