import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { CorruptDatasetError, InvalidArgumentError } from '../errors.js';
import { expectCleanFailureOrSuccess, mutations } from '../test-support/fuzz.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { IMAGE_FOLDER_LIMITS, openImageFolder } from './image-folder.js';

/** CRC-32 of PNG chunks (ISO 3309). */
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** A valid PNG header of any size (RGB, 8 bits) whose pixel data is a few zero rows. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(4 * (1 + 3 * width)))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const tempDir = useTempDirs();

/** A w x h RGB image whose pixel (y, x) is (10y, 10x, 100). */
async function gradientPng(path: string, w: number, h: number, orientation?: number) {
  const raw = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) raw.set([10 * y, 10 * x, 100], (y * w + x) * 3);
  let img = sharp(raw, { raw: { width: w, height: h, channels: 3 } });
  if (orientation) img = img.withMetadata({ orientation });
  const buf = path.endsWith('.png')
    ? await img.png().toBuffer()
    : await img.jpeg({ quality: 100 }).toBuffer();
  await writeFile(path, buf);
}

describe('openImageFolder', () => {
  it('reads PNGs at native size, labelled by subfolder in sorted order', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'b-dogs'));
    await mkdir(join(dir, 'a-cats'));
    await gradientPng(join(dir, 'b-dogs', '1.png'), 4, 3);
    await gradientPng(join(dir, 'a-cats', '2.png'), 4, 3);
    await writeFile(join(dir, 'a-cats', 'notes.txt'), 'ignored');
    const ds = await openImageFolder(dir);
    expect([ds.count, ds.height, ds.width, ds.channels]).toEqual([2, 3, 4, 3]);
    expect(ds.classNames).toEqual(['a-cats', 'b-dogs']);
    expect(Array.from(ds.labels!)).toEqual([0, 1]);
    const b = await ds.get(1);
    expect(Array.from(b.pixels.subarray((2 * 4 + 3) * 3, (2 * 4 + 3) * 3 + 3))).toEqual([
      20, 30, 100,
    ]);
  });

  it('applies EXIF orientation (6 = rotate 90° clockwise to display)', async () => {
    const dir = await tempDir();
    await gradientPng(join(dir, 'r.jpg'), 8, 4, 6);
    const ds = await openImageFolder(dir);
    expect([ds.height, ds.width]).toEqual([8, 4]);
    expect(ds.labels).toBeUndefined();
  });

  it('resizes with cover (shorter side + centre crop) and converts to grey', async () => {
    const dir = await tempDir();
    await gradientPng(join(dir, 'wide.png'), 64, 32);
    const ds = await openImageFolder(dir, { size: 16, channels: 1 });
    expect([ds.height, ds.width, ds.channels]).toEqual([16, 16, 1]);
    const px = (await ds.get(0)).pixels;
    expect(px.length).toBe(256);
    // Centre crop: the x gradient of the middle columns survives, rising left to right.
    expect(px[8 * 16 + 15]!).toBeGreaterThan(px[8 * 16]!);
  });

  it('names the odd-sized file when sizes differ and no resize was asked', async () => {
    const dir = await tempDir();
    await gradientPng(join(dir, 'a.png'), 4, 4);
    await gradientPng(join(dir, 'b.png'), 5, 4);
    const ds = await openImageFolder(dir);
    const err = await ds.slice(0, 2).catch((e) => e);
    expect(InvalidArgumentError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/b\.png is 4x5 but the dataset is 4x4; pass \{ size/);
  });

  it('survives corrupt and truncated image files with typed errors only', async () => {
    const dir = await tempDir();
    const png = join(dir, 'x.png');
    await gradientPng(png, 6, 6);
    const jpg = join(dir, 'y.jpg');
    await gradientPng(jpg, 6, 6);
    const { readFile } = await import('node:fs/promises');
    const validPng = new Uint8Array(await readFile(png));
    const validJpg = new Uint8Array(await readFile(jpg));
    let errors = 0;
    for (const [valid, name] of [
      [validPng, 'x.png'],
      [validJpg, 'y.jpg'],
    ] as const) {
      for (const m of mutations(valid, 21, 60)) {
        const sub = join(dir, 'fuzz');
        await mkdir(sub, { recursive: true });
        await writeFile(join(sub, name), m);
        const r = await expectCleanFailureOrSuccess(async () => {
          const ds = await openImageFolder(sub, { size: 6 });
          await ds.slice(0, ds.count);
        });
        if (r === 'error') errors++;
      }
    }
    expect(errors).toBeGreaterThan(40);
    // A folder of its own: the fuzz folder may still hold a corrupt y.jpg, which could be
    // reported first (images are read concurrently).
    const truncated = join(dir, 'truncated');
    await mkdir(truncated, { recursive: true });
    for (const length of [0, 10]) {
      await writeFile(join(truncated, 'x.png'), new Uint8Array(length));
      const err = await openImageFolder(truncated, { size: 6 })
        .then((d) => d.slice(0, d.count))
        .catch((e) => e);
      expect(CorruptDatasetError.isInstance(err), String(err)).toBe(true);
      expect(err.message).toMatch(/x\.png: cannot decode the image/);
    }
  });

  it('refuses an image over the pixel limit from its header, before decoding it', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'huge.png'), pngHeaderOnly(16000, 16000));
    const started = process.memoryUsage().rss;
    for (const options of [{}, { size: 32 }]) {
      const err = await openImageFolder(dir, options)
        .then((ds) => ds.get(0))
        .catch((e) => e);
      expect(CorruptDatasetError.isInstance(err), String(err)).toBe(true);
      expect(err.message).toMatch(
        /huge\.png: 16000x16000 pixels \(256\.0 megapixels\) is more than the 33\.6 megapixels image folders decode/,
      );
    }
    expect(process.memoryUsage().rss - started).toBeLessThan(256 * 2 ** 20);
  });

  it('without a size, scales large images down to a bounded side before decoding batches', async () => {
    const dir = await tempDir();
    for (const name of ['a.png', 'b.png']) {
      const png = await sharp({
        create: { width: 1000, height: 800, channels: 3, background: { r: 200, g: 10, b: 10 } },
      })
        .png()
        .toBuffer();
      await writeFile(join(dir, name), png);
    }
    const ds = await openImageFolder(dir);
    const side = IMAGE_FOLDER_LIMITS.defaultMaxSide;
    expect([ds.height, ds.width]).toEqual([Math.round(800 * (side / 1000)), side]);
    const { pixels } = await ds.get(1);
    expect(pixels.length).toBe(ds.height * ds.width * 3);
    expect(Array.from(pixels.subarray(0, 3))).toEqual([200, 10, 10]);
    // Asking for native size keeps it (within the pixel limit).
    const native = await openImageFolder(dir, { resize: 'none' });
    expect([native.height, native.width]).toEqual([800, 1000]);
  });
});
