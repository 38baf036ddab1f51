import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { CorruptDatasetError, InvalidArgumentError } from '../errors.js';
import { expectCleanFailureOrSuccess, mutations } from '../test-support/fuzz.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { encodeIdx, gzip, randomBytes, randomLabels } from '../test-support/writers.js';
import { findIdxSplit, openIdxDataset } from './idx.js';

const FASHION = '/usr/share/datasets/fashion-mnist';
const tempDir = useTempDirs();

async function writeMnistLike(dir: string, n: number, compress: boolean) {
  const pixels = randomBytes(n * 28 * 28, 1);
  const labels = randomLabels(n, 10, 2);
  const z = (b: Uint8Array) => (compress ? gzip(b) : b);
  const ext = compress ? '.gz' : '';
  await writeFile(join(dir, `train-images-idx3-ubyte${ext}`), z(encodeIdx([n, 28, 28], pixels)));
  await writeFile(join(dir, `train-labels-idx1-ubyte${ext}`), z(encodeIdx([n], labels)));
  return { pixels, labels };
}

describe('openIdxDataset', () => {
  for (const compress of [false, true]) {
    it(`reads images and labels (${compress ? 'gzipped' : 'raw'})`, async () => {
      const dir = await tempDir();
      const { pixels, labels } = await writeMnistLike(dir, 50, compress);
      const ds = await openIdxDataset(join(dir, `train-images-idx3-ubyte${compress ? '.gz' : ''}`));
      expect([ds.count, ds.height, ds.width, ds.channels]).toEqual([50, 28, 28, 1]);
      expect(ds.labels).toEqual(Int32Array.from(labels));
      const b = await ds.slice(10, 13);
      expect(b.pixels).toEqual(pixels.subarray(10 * 784, 13 * 784));
      const g = await ds.gather([7, 3, 7, 49]);
      expect(g.pixels.subarray(784, 1568)).toEqual(pixels.subarray(3 * 784, 4 * 784));
      expect(g.pixels.subarray(3 * 784)).toEqual(pixels.subarray(49 * 784));
      expect(Array.from(g.labels!)).toEqual([labels[7], labels[3], labels[7], labels[49]]);
      await ds.close();
    });
  }

  it('transposes EMNIST-style images back', async () => {
    const dir = await tempDir();
    const img = Uint8Array.from({ length: 6 }, (_, i) => i); // stored 3x2 = transposed 2x3
    await writeFile(join(dir, 'x-train-images-idx3-ubyte'), encodeIdx([1, 2, 3], img));
    const ds = await openIdxDataset(join(dir, 'x-train-images-idx3-ubyte'), {
      transpose: true,
      labelsPath: null,
    });
    // true image (2 rows, 3 cols): true[y][x] = stored[x][y] = img[x*2 + y]
    expect(Array.from((await ds.get(0)).pixels)).toEqual([0, 2, 4, 1, 3, 5]);
    await ds.close();
  });

  it('rejects a labels file with another count, naming it', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'train-images-idx3-ubyte'), encodeIdx([4, 2, 2], new Uint8Array(16)));
    await writeFile(join(dir, 'train-labels-idx1-ubyte'), encodeIdx([5], new Uint8Array(5)));
    await expect(openIdxDataset(join(dir, 'train-images-idx3-ubyte'))).rejects.toThrow(
      /train-labels-idx1-ubyte: has 5 labels but the images file has 4/,
    );
  });

  it('rejects labels beyond numClasses and a labels file passed as images', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'train-images-idx3-ubyte'), encodeIdx([2, 2, 2], new Uint8Array(8)));
    await writeFile(join(dir, 'train-labels-idx1-ubyte'), encodeIdx([2], Uint8Array.of(3, 12)));
    const err = await openIdxDataset(join(dir, 'train-images-idx3-ubyte'), {
      numClasses: 10,
    }).catch((e) => e);
    expect(CorruptDatasetError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/label 12 of image 1 is outside the 10 classes/);
    await expect(openIdxDataset(join(dir, 'train-labels-idx1-ubyte'))).rejects.toThrow(
      /is this a labels file/,
    );
  });

  it('reports truncation with the expected and actual sizes', async () => {
    const dir = await tempDir();
    const full = encodeIdx([3, 4, 4], new Uint8Array(48));
    await writeFile(join(dir, 'a-images-idx3-ubyte'), full.subarray(0, 40));
    await expect(openIdxDataset(join(dir, 'a-images-idx3-ubyte'))).rejects.toThrow(
      /a-images-idx3-ubyte: IDX header says 3x4x4 ubyte \(64 bytes\) but the file is truncated at 40 bytes/,
    );
  });

  it('stops a gzip bomb at the size its IDX header promises', async () => {
    const dir = await tempDir();
    // The header promises 10 images of 28x28 (7856 bytes); 256 MB of zeros follow.
    const path = join(dir, 'bomb-images-idx3-ubyte.gz');
    const zipper = createGzip({ level: 9 });
    const written = pipeline(zipper, createWriteStream(path));
    zipper.write(encodeIdx([10, 28, 28], new Uint8Array(7840)));
    const zeros = Buffer.alloc(1 << 20);
    for (let i = 0; i < 256; i++) if (!zipper.write(zeros)) await once(zipper, 'drain');
    zipper.end();
    await written;
    let peak = 0;
    const base = process.memoryUsage().arrayBuffers;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    }, 2);
    const err = await openIdxDataset(path, { labelsPath: null }).catch((e) => e);
    clearInterval(sampler);
    expect(CorruptDatasetError.isInstance(err), String(err)).toBe(true);
    expect(err.message).toMatch(
      /bomb-images-idx3-ubyte\.gz: decompresses to more than the 7856 bytes its IDX header promises; stopped there/,
    );
    expect(peak).toBeLessThan(64 * 2 ** 20);
    // A header that promises more than hierglow reads is refused before inflating the rest.
    const huge = join(dir, 'huge-images-idx3-ubyte.gz');
    await writeFile(huge, gzip(encodeIdx([2 ** 31 - 1, 64, 64], new Uint8Array(16))));
    await expect(openIdxDataset(huge, { labelsPath: null })).rejects.toThrow(
      /the IDX header promises \d+ bytes, more than the 4294967295 hierglow reads/,
    );
  });

  it('rejects out-of-range reads with InvalidArgumentError', async () => {
    const dir = await tempDir();
    await writeMnistLike(dir, 5, false);
    const ds = await openIdxDataset(join(dir, 'train-images-idx3-ubyte'));
    await expect(ds.get(5)).rejects.toSatisfy((e) => InvalidArgumentError.isInstance(e));
    await expect(ds.slice(3, 2)).rejects.toSatisfy((e) => InvalidArgumentError.isInstance(e));
    await expect(ds.gather([0, -1])).rejects.toSatisfy((e) => InvalidArgumentError.isInstance(e));
    await ds.close();
  });

  it('finds the split files of a folder', async () => {
    const dir = await tempDir();
    await writeMnistLike(dir, 3, true);
    expect(await findIdxSplit(dir, 'train')).toBe(join(dir, 'train-images-idx3-ubyte.gz'));
    await expect(findIdxSplit(dir, 'test')).rejects.toThrow(/no t10k-images/);
    await expect(findIdxSplit(dir, 'extra')).rejects.toSatisfy((e) =>
      InvalidArgumentError.isInstance(e),
    );
  });

  it('survives fuzzed files (raw and gzipped) with typed errors only', async () => {
    const dir = await tempDir();
    const valid = encodeIdx([6, 5, 5], randomBytes(150, 3));
    const labels = encodeIdx([6], randomLabels(6, 10, 4));
    await writeFile(join(dir, 'f-labels-idx1-ubyte'), labels);
    const outcomes = { ok: 0, error: 0 };
    let i = 0;
    for (const m of mutations(valid, 99, 240)) {
      const p = join(dir, 'f-images-idx3-ubyte');
      await writeFile(p, i++ % 2 ? gzip(m) : m);
      outcomes[
        await expectCleanFailureOrSuccess(async () => {
          const ds = await openIdxDataset(p);
          try {
            await ds.slice(0, ds.count);
          } finally {
            await ds.close();
          }
        })
      ]++;
    }
    for (const m of mutations(gzip(valid), 7, 120)) {
      const p = join(dir, 'g-images-idx3-ubyte.gz');
      await writeFile(p, m);
      await expectCleanFailureOrSuccess(async () => {
        const ds = await openIdxDataset(p, { labelsPath: null });
        try {
          await ds.slice(0, ds.count);
        } finally {
          await ds.close();
        }
      });
    }
    expect(outcomes.error).toBeGreaterThan(100);
  });
});

describe.runIf(existsSync(FASHION))('Fashion-MNIST from the Debian package', () => {
  it('reads the test split with labels', async () => {
    const ds = await openIdxDataset(join(FASHION, 't10k-images-idx3-ubyte.gz'), { numClasses: 10 });
    expect([ds.count, ds.height, ds.width, ds.channels]).toEqual([10000, 28, 28, 1]);
    const counts = new Array(10).fill(0);
    for (const l of ds.labels!) counts[l]++;
    expect(counts).toEqual(new Array(10).fill(1000));
    const b = await ds.get(0);
    // Fashion-MNIST images have a black background: the corners are 0.
    expect(b.pixels[0]).toBe(0);
    expect(b.pixels.reduce((s, v) => s + v, 0)).toBeGreaterThan(10000);
    await ds.close();
  });
});
