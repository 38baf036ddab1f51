import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRng } from '@hierglow/random';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { CorruptDatasetError } from '../errors.js';
import { openImageFolder } from '../formats/image-folder.js';
import * as browserEntry from '../index.browser.js';
import * as nodeEntry from '../index.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import {
  bytesModelInput,
  imageFileModelInput,
  imageFolderSize,
  rgbaOnBlack,
} from './image-file.js';
import { transformBatch } from './transforms.js';

const tempDir = useTempDirs();
const GREY_32 = { height: 32, width: 32, channels: 1 };

/** Deterministic pixels with structure (gradients) and noise, RGBA. */
function pattern(height: number, width: number, seed: number, alpha: 'opaque' | 'mixed') {
  const rng = createRng(seed);
  const data = new Uint8Array(height * width * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = 4 * (y * width + x);
      data[p] = (x * 255) / Math.max(1, width - 1);
      data[p + 1] = (y * 255) / Math.max(1, height - 1);
      data[p + 2] = rng.int(256);
      data[p + 3] = alpha === 'opaque' ? 255 : rng.int(4) === 0 ? 255 : rng.int(256);
    }
  }
  return data;
}

/** What `hierglow score --data DIR` feeds a grey 32x32 model for a folder holding one image. */
async function cliInput(dir: string): Promise<Float32Array> {
  const ds = await openImageFolder(dir);
  const batch = await ds.slice(0, 1);
  await ds.close();
  // transformFor's evaluation options for a grey model and RGB files (no augmentation).
  return transformBatch(
    batch,
    { size: [32, 32], channels: 1, noise: 'bin-centre', translate: 0, hflip: false },
    createRng(1),
  );
}

/** What a page computes: the decoder's RGBA (not premultiplied), flattened, then preprocessed. */
async function pageInput(file: string): Promise<Float32Array> {
  const { data, info } = await sharp(file)
    .rotate()
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const rgb = rgbaOnBlack(new Uint8Array(data.buffer, data.byteOffset, data.length));
  return imageFileModelInput(file, rgb, info.height, info.width, GREY_32);
}

async function imageFile(
  name: string,
  height: number,
  width: number,
  alpha: 'opaque' | 'mixed',
  format: 'png' | 'jpeg' = 'png',
): Promise<{ dir: string; file: string }> {
  const dir = await tempDir();
  const file = join(dir, name);
  const img = sharp(Buffer.from(pattern(height, width, height * width, alpha)), {
    raw: { width, height, channels: 4 },
  });
  await writeFile(
    file,
    await (format === 'png' ? img.png() : img.removeAlpha().jpeg({ quality: 90 })).toBuffer(),
  );
  return { dir, file };
}

describe('imageFileModelInput: one image file as `hierglow score` preprocesses it', () => {
  it.each([
    ['an opaque RGB PNG smaller than the model', 28, 40, 'opaque'],
    ['an RGBA PNG with translucent pixels (flattened onto black)', 20, 24, 'mixed'],
    ['a PNG larger than the model, under the 256 px cap', 100, 256, 'opaque'],
  ] as const)('matches the folder reader exactly for %s', async (_, height, width, alpha) => {
    const { dir, file } = await imageFile('a.png', height, width, alpha);
    const want = await cliInput(dir);
    const got = await pageInput(file);
    expect(got.length).toBe(32 * 32);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it('matches for a JPEG decoded by the same decoder', async () => {
    const { dir, file } = await imageFile('a.jpg', 30, 50, 'opaque', 'jpeg');
    expect(Array.from(await pageInput(file))).toEqual(Array.from(await cliInput(dir)));
  });

  it('shrinks images over the 256 px cap first, close to (not exactly) the reader', async () => {
    const { dir, file } = await imageFile('big.png', 300, 520, 'opaque');
    expect(imageFolderSize(300, 520)).toEqual({ height: 148, width: 256, capped: true });
    const want = await cliInput(dir);
    const got = await pageInput(file);
    // libvips' linear shrink against Pillow's bilinear: the gradients agree, the noise channel
    // averages out differently; a level is 1/256.
    let sum = 0;
    for (let i = 0; i < got.length; i++) sum += Math.abs(got[i]! - want[i]!);
    expect(sum / got.length).toBeLessThan(2 / 256);
  });

  it('flattens every value under every alpha onto black as sharp does', async () => {
    const rgba = new Uint8Array(256 * 256 * 4);
    for (let a = 0; a < 256; a++) {
      for (let v = 0; v < 256; v++) rgba.set([v, 255 - v, v >> 1, a], 4 * (a * 256 + v));
    }
    const { data } = await sharp(Buffer.from(rgba), {
      raw: { width: 256, height: 256, channels: 4 },
    })
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    expect(Buffer.from(rgbaOnBlack(rgba)).equals(data)).toBe(true);
  });

  it('gives the bin centres of 8-bit values for images already at the model size', () => {
    const pixels = Uint8Array.from([0, 1, 128, 255]);
    const got = bytesModelInput(pixels, 1, { height: 2, width: 2, channels: 1 });
    expect(Array.from(got)).toEqual(
      Array.from(Float32Array.from(pixels, (v) => v / 256 - 0.5 + 1 / 512)),
    );
  });

  it('refuses images over the pixel limit and bytes of the wrong size, naming the file', () => {
    // The pixel count is checked before the bytes are looked at, as the reader does from the header.
    expect(() => imageFileModelInput('huge.png', new Uint8Array(3), 4097, 8192, GREY_32)).toThrow(
      CorruptDatasetError,
    );
    expect(() => imageFileModelInput('small.png', new Uint8Array(3), 2, 2, GREY_32)).toThrow(
      /^small\.png: 3 bytes are not a 2x2 RGB image/,
    );
    expect(() => rgbaOnBlack(new Uint8Array(5))).toThrow(/5 RGBA bytes/);
  });

  it('the browser entry exports only what the Node entry exports, under the same values', () => {
    const node = new Map(Object.entries(nodeEntry));
    for (const [name, value] of Object.entries(browserEntry))
      expect(node.get(name), name).toBe(value);
  });
});
