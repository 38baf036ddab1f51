import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { openHierglowDataset } from '../formats/hierglow-format.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import {
  buildGeneralDataset,
  decodePattern,
  FASHION_MNIST_STYLE,
  type ImageSource,
  parseDomainStyle,
} from './general-builder.js';
import { isTextLike } from './general-sources.js';

const tempDir = useTempDirs();

/** An opaque photo of one colour. */
async function opaque(path: string, side: number, rgb: [number, number, number]) {
  await sharp({
    create: {
      width: side,
      height: side,
      channels: 3,
      background: { r: rgb[0], g: rgb[1], b: rgb[2] },
    },
  })
    .png()
    .toFile(path);
}

/** A white disc of diameter `d` on a transparent `side`² canvas, off-centre at (x, y). */
async function cutout(path: string, side: number, d: number, x: number, y: number) {
  const raw = Buffer.alloc(side * side * 4);
  for (let j = 0; j < side; j++)
    for (let i = 0; i < side; i++)
      if (Math.hypot(i + 0.5 - x - d / 2, j + 0.5 - y - d / 2) <= d / 2)
        raw.set([255, 255, 255, 255], (j * side + i) * 4);
  await sharp(raw, { raw: { width: side, height: side, channels: 4 } })
    .png()
    .toFile(path);
}

async function sources(dir: string): Promise<ImageSource[]> {
  await mkdir(dir, { recursive: true });
  const out: ImageSource[] = [];
  // Kind "photo": 1 package with 9 grey photos; kind "object": 2 packages of discs.
  for (let i = 0; i < 9; i++) {
    const path = join(dir, `photo${i}.png`);
    await opaque(path, 80, [100 + i, 100 + i, 100 + i]);
    out.push({ path, group: `p${i}`, kind: 'photo', package: 'photos', rendering: 'crop' });
  }
  for (let i = 0; i < 4; i++) {
    for (const pkg of ['stamps', 'icons']) {
      const path = join(dir, `${pkg}${i}.png`);
      await cutout(path, 96, 40 + 8 * i, 5, 30);
      out.push({ path, group: `${pkg}${i}`, kind: 'object', package: pkg, rendering: 'auto' });
    }
  }
  return out;
}

describe('buildGeneralDataset, kind-balanced with a domain-matched share', () => {
  it('weighs kinds, then packages, equally; renders the domain share on exact black', async () => {
    const dir = await tempDir();
    const src = await sources(join(dir, 'src'));
    const r = await buildGeneralDataset({
      sources: src,
      outDir: join(dir, 'out'),
      trainCount: 2000,
      validationCount: 100,
      channels: 1,
      seed: 3,
      balance: 'kind',
      domainWeight: 0.5,
      domain: FASHION_MNIST_STYLE,
    });
    expect(r.domainCounts).toEqual({ train: 1000, validation: 50 });
    // Groups are held out per package: each package keeps training groups.
    for (const pkg of ['photos', 'stamps', 'icons']) {
      const splits = r.photos.filter((p) => p.package === pkg).map((p) => p.split);
      expect(splits).toContain('train');
      expect(splits).toContain('validation');
    }
    expect(r.photos.filter((p) => p.kind === 'object').every((p) => p.rendering === 'cutout')).toBe(
      true,
    );
    const ds = await openHierglowDataset(r.train);
    const all = await ds.slice(0, ds.count);
    let photos = 0;
    let stamps = 0;
    let blackFrames = 0;
    let brightCentre = 0;
    for (let k = 0; k < ds.count; k++) {
      const p = r.photos[ds.labels![k]!]!;
      if (p.kind === 'photo') photos++;
      if (p.package === 'stamps') stamps++;
      const img = all.pixels.subarray(k * 1024, (k + 1) * 1024);
      // Corners exactly 0 and the object in the middle: the domain rendering.
      if (img[0] === 0 && img[31] === 0 && img[992] === 0 && img[1023] === 0) {
        blackFrames++;
        if (img[16 * 32 + 16]! > 50) brightCentre++;
      }
    }
    expect(photos / ds.count).toBeCloseTo(0.5, 1);
    expect(stamps / ds.count).toBeCloseTo(0.25, 1);
    // Broad cut-outs sit on a random plain colour, broad crops are the photo's grey (>= 100):
    // black corners come from the domain half only (a broad background of exactly 0 is rare).
    expect(blackFrames).toBeGreaterThanOrEqual(1000);
    expect(blackFrames).toBeLessThan(1000 + 20);
    expect(brightCentre).toBeGreaterThan(0.95 * blackFrames);
    await ds.close();
  });

  it('refuses a domain share without a style, a style that does not fit, and group balance', async () => {
    const dir = await tempDir();
    const src = await sources(join(dir, 'src'));
    const base = { sources: src, outDir: join(dir, 'o'), trainCount: 10 };
    await expect(
      buildGeneralDataset({ ...base, balance: 'kind', domainWeight: 0.5 }),
    ).rejects.toThrow(/needs a domain style/);
    await expect(
      buildGeneralDataset({
        ...base,
        balance: 'kind',
        domainWeight: 0.5,
        domain: { ...FASHION_MNIST_STYLE, resize: 28 },
      }),
    ).rejects.toThrow(/resize \(28\) must equal the dataset's size \(32\)/);
    await expect(
      buildGeneralDataset({ ...base, domainWeight: 0.5, domain: FASHION_MNIST_STYLE }),
    ).rejects.toSatisfy(InvalidArgumentError.isInstance);
  });
});

describe('parseDomainStyle', () => {
  it('reads a named style or every key, and names what is wrong', () => {
    expect(parseDomainStyle('fashion-mnist')).toEqual(FASHION_MNIST_STYLE);
    expect(parseDomainStyle('canvas=28,object=20-28,background=0,resize=32')).toEqual(
      FASHION_MNIST_STYLE,
    );
    expect(parseDomainStyle('canvas=64,object=40,background=12,resize=32')).toEqual({
      canvas: 64,
      objectMin: 40,
      objectMax: 40,
      background: 12,
      resize: 32,
    });
    expect(() => parseDomainStyle('canvas=28,object=20-28,resize=32')).toThrow(
      /background is missing/,
    );
    expect(() => parseDomainStyle('canvas=28,colour=1')).toThrow(/unknown key "colour"/);
    expect(() => parseDomainStyle('cifar')).toThrow(/expected one of fashion-mnist/);
  });
});

describe('isTextLike', () => {
  it('skips letters, digits, text, glyphs, fonts, math, money, flags and signs by name', () => {
    for (const p of [
      'usr/share/tuxpaint/stamps/symbols/alphabets/english/filled/uppercase/a.png',
      'usr/share/tuxpaint/stamps/symbols/math/operators/plus.png',
      'usr/share/tuxpaint/stamps/town/roadsigns/stop.png',
      'usr/share/games/hedgewars/Data/Fonts/x.png',
      'usr/share/games/hedgewars/Data/Graphics/Flags/fr.png',
      'usr/share/icons/oxygen/base/128x128/apps/accessories-calculator.png',
      'usr/share/icons/oxygen/base/128x128/status/dialog-information.png',
      'skimage/data/coins.png',
      'items/gold-coins-large.png',
      'images/misc/TextLabel.png',
      'digits/7.png',
      'sprites/12.png',
      'currency/euroNote.png',
    ])
      expect(isTextLike(p), p).toBe(true);
  });

  it('keeps pictures whose names only contain such words inside other words', () => {
    for (const p of [
      'usr/share/tuxpaint/stamps/animals/birds/parrot.png',
      'hedgewars/Data/Themes/Nature/LandTex.png',
      'labelme/classification/data_annotated/0001.jpg',
      'libdlib19.1/examples/video_frames/frame_000100.jpg',
      'wesnoth/units/human-loyalists/spearman.png',
      'stellarium/nebulae/default/m42.png',
      'icons/places/folder-documents.png',
    ])
      expect(isTextLike(p), p).toBe(false);
  });
});

describe('GIMP patterns', () => {
  it('decodes grey, grey+alpha and RGB pixels after the header, and rejects other files', async () => {
    const header = (w: number, h: number, depth: number) => {
      const name = Buffer.from('test\0');
      const b = Buffer.alloc(24 + name.length);
      b.writeUInt32BE(24 + name.length, 0);
      b.writeUInt32BE(1, 4);
      b.writeUInt32BE(w, 8);
      b.writeUInt32BE(h, 12);
      b.writeUInt32BE(depth, 16);
      b.write('GPAT', 20, 'latin1');
      name.copy(b, 24);
      return b;
    };
    const rgb = Buffer.concat([header(2, 1, 3), Buffer.from([1, 2, 3, 4, 5, 6])]);
    expect(Array.from(decodePattern(rgb, 'x.pat').data)).toEqual([1, 2, 3, 4, 5, 6]);
    const greyAlpha = Buffer.concat([header(2, 1, 2), Buffer.from([200, 255, 200, 0])]);
    expect(Array.from(decodePattern(greyAlpha, 'y.pat').data)).toEqual([200, 200, 200, 0, 0, 0]);
    expect(() => decodePattern(Buffer.concat([header(4, 4, 3), Buffer.alloc(3)]), 'z.pat')).toThrow(
      /z\.pat: truncated GIMP pattern/,
    );
    expect(() => decodePattern(Buffer.alloc(40), 'w.pat')).toThrow(/w\.pat: not a GIMP pattern/);
    const dir = await tempDir();
    await writeFile(
      join(dir, 'ok.pat'),
      Buffer.concat([header(40, 40, 1), Buffer.alloc(1600, 77)]),
    );
    await writeFile(
      join(dir, 'ok2.pat'),
      Buffer.concat([header(40, 40, 1), Buffer.alloc(1600, 99)]),
    );
    const r = await buildGeneralDataset({
      sources: [join(dir, 'ok.pat'), join(dir, 'ok2.pat')],
      outDir: join(dir, 'out'),
      trainCount: 4,
      channels: 1,
    });
    const ds = await openHierglowDataset(r.train);
    const px = (await ds.get(0)).pixels;
    expect([77, 76, 99, 98]).toContain(px[500]); // floor(0.9999·v) for grey v
    await ds.close();
  });
});
