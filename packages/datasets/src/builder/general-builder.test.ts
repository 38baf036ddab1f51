import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRng } from '@hierglow/random';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { openHierglowDataset, verifyHierglowChecksum } from '../formats/hierglow-format.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { buildGeneralDataset, planCrops } from './general-builder.js';

const tempDir = useTempDirs();

/** Writes a `w x h` photo of one colour (or a left/right split when `right` is given). */
async function photo(
  path: string,
  w: number,
  h: number,
  left: [number, number, number],
  right = left,
) {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) raw.set(x < w / 2 ? left : right, (y * w + x) * 3);
  await sharp(raw, { raw: { width: w, height: h, channels: 3 } })
    .png()
    .toFile(path);
}

describe('planCrops', () => {
  it('draws log-uniform square sides within the photo, uniform positions and fair flips', () => {
    const photos = [{ width: 1024, height: 512 }];
    const plan = planCrops(photos, [[0]], 20000, 32, createRng(1));
    let flips = 0;
    const logBins = new Array(4).fill(0);
    for (const c of plan) {
      expect(c.side).toBeGreaterThanOrEqual(32);
      expect(c.side).toBeLessThanOrEqual(512);
      expect(c.left + c.side).toBeLessThanOrEqual(1024);
      expect(c.top + c.side).toBeLessThanOrEqual(512);
      if (c.flip) flips++;
      // log2(side/32) is uniform on [0, 4]: equal counts per octave.
      logBins[Math.min(3, Math.floor(Math.log2(c.side / 32)))]++;
    }
    expect(flips / plan.length).toBeCloseTo(0.5, 1);
    for (const b of logBins) expect(b / plan.length).toBeCloseTo(0.25, 1);
  });

  it('weighs groups equally, whatever their photo count', () => {
    const photos = Array.from({ length: 11 }, () => ({ width: 64, height: 64 }));
    const plan = planCrops(photos, [[0], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], 10000, 32, createRng(2));
    expect(plan.filter((c) => c.photo === 0).length / plan.length).toBeCloseTo(0.5, 1);
  });
});

describe('buildGeneralDataset', () => {
  it('holds whole photo groups out, labels crops by photo, and is byte-reproducible', async () => {
    const dir = await tempDir();
    const src = join(dir, 'photos');
    await mkdir(join(src, 'clip'), { recursive: true });
    const colours: [number, number, number][] = [
      [200, 0, 0],
      [0, 200, 0],
      [0, 0, 200],
      [200, 200, 0],
      [0, 200, 200],
    ];
    for (const [i, c] of colours.entries()) await photo(join(src, `p${i}.png`), 96 + 16 * i, 80, c);
    // Two frames of one clip: one group, so they land in the same split.
    await photo(join(src, 'clip', 'f1.png'), 64, 64, [50, 50, 50]);
    await photo(join(src, 'clip', 'f2.png'), 64, 64, [60, 60, 60]);
    await photo(join(src, 'tiny.png'), 20, 20, [1, 2, 3]); // too small for 32 px crops: skipped
    const sources = [
      ...colours.map((_, i) => join(src, `p${i}.png`)),
      { path: join(src, 'clip'), group: 'clip' },
      join(src, 'tiny.png'),
    ];
    const progress: number[] = [];
    const opts = {
      sources,
      trainCount: 300,
      validationCount: 60,
      validationFraction: 0.3,
      seed: 5,
      onProgress: (p: { done: number }) => progress.push(p.done),
    };
    const a = await buildGeneralDataset({ ...opts, outDir: join(dir, 'a') });
    expect(progress.at(-1)).toBe(60);
    const skipped = a.photos.filter((p) => p.split === 'skipped').map((p) => p.path);
    expect(skipped).toEqual([join(src, 'tiny.png')]);
    const clipSplits = new Set(a.photos.filter((p) => p.group === 'clip').map((p) => p.split));
    expect(clipSplits.size).toBe(1);

    const train = await openHierglowDataset(a.train);
    const val = await openHierglowDataset(a.validation);
    expect([train.count, train.height, train.width, train.channels]).toEqual([300, 32, 32, 3]);
    expect(val.count).toBe(60);
    const trainPhotos = new Set(train.labels);
    const valPhotos = new Set(val.labels);
    expect([...valPhotos].some((p) => trainPhotos.has(p))).toBe(false);
    for (const p of valPhotos) expect(a.photos[p]!.split).toBe('validation');
    // A crop of a single-colour photo is that colour (up to resampling at the border).
    const first = await train.get(0);
    const colour = colours[train.labels![0]!];
    if (colour)
      expect(Math.abs(first.pixels[16 * 32 * 3 + 16 * 3]! - colour[0])).toBeLessThanOrEqual(2);
    expect(train.provenance.details).toMatchObject({
      seed: 5,
      split: 'train',
      size: 32,
      channels: 3,
    });
    await train.close();
    await val.close();
    await verifyHierglowChecksum(a.train);

    const b = await buildGeneralDataset({ ...opts, outDir: join(dir, 'b') });
    expect(await readFile(b.train)).toEqual(await readFile(a.train));
    expect(await readFile(b.validation)).toEqual(await readFile(a.validation));
    const c = await buildGeneralDataset({ ...opts, seed: 6, outDir: join(dir, 'c') });
    expect(await readFile(c.train)).not.toEqual(await readFile(a.train));
  });

  it('makes grey crops with the spec weights and flips half of them', async () => {
    const dir = await tempDir();
    // Left half white, right half black: a flipped crop covering both halves is dark on the left.
    await photo(join(dir, 'a.png'), 64, 64, [255, 255, 255], [0, 0, 0]);
    await photo(join(dir, 'b.png'), 64, 64, [255, 255, 255], [0, 0, 0]);
    const r = await buildGeneralDataset({
      sources: [dir],
      outDir: join(dir, 'out'),
      trainCount: 200,
      validationCount: 10,
      channels: 1,
      seed: 1,
      validationFraction: 0.5,
    });
    const ds = await openHierglowDataset(r.train);
    expect(ds.channels).toBe(1);
    const all = await ds.slice(0, ds.count);
    let brighterLeft = 0;
    let brighterRight = 0;
    for (let i = 0; i < ds.count; i++) {
      const row = all.pixels.subarray(i * 1024 + 16 * 32, i * 1024 + 17 * 32);
      if (row[0]! > row[31]! + 100) brighterLeft++;
      if (row[31]! > row[0]! + 100) brighterRight++;
      expect(Math.max(...all.pixels.subarray(i * 1024, (i + 1) * 1024))).toBeLessThanOrEqual(254); // floor(0.9999·255)
    }
    expect(brighterLeft).toBeGreaterThan(20);
    expect(brighterRight).toBeGreaterThan(20);
    await ds.close();
  });

  it('refuses a single photo group when a validation split is asked for', async () => {
    const dir = await tempDir();
    await photo(join(dir, 'only.png'), 40, 40, [9, 9, 9]);
    await expect(
      buildGeneralDataset({ sources: [dir], outDir: join(dir, 'o'), trainCount: 5 }),
    ).rejects.toSatisfy(InvalidArgumentError.isInstance);
  });
});
