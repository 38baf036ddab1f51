import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRng, randomPermutation } from '@hierglow/random';
import { describe, expect, it } from 'vitest';
import { CorruptDatasetError, InvalidArgumentError } from '../errors.js';
import { expectCleanFailureOrSuccess, mutations } from '../test-support/fuzz.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { randomBytes } from '../test-support/writers.js';
import { inMemoryDataset } from '../views.js';
import {
  HierglowDatasetWriter,
  openHierglowDataset,
  readHierglowHeader,
  verifyHierglowChecksum,
  writeHierglowDataset,
} from './hierglow-format.js';

const tempDir = useTempDirs();
const provenance = { format: 'test', sources: ['unit-test'], details: { seed: 1 } };

describe('hierglow dataset format', () => {
  it('round-trips pixels, int32 labels, class names and provenance; body is 64-byte aligned', async () => {
    const dir = await tempDir();
    const path = join(dir, 'a.hgds');
    const pixels = randomBytes(37 * 4 * 3 * 2, 5);
    const labels = Int32Array.from({ length: 37 }, (_, i) => (i * 77) % 300);
    const src = inMemoryDataset({
      pixels,
      count: 37,
      height: 4,
      width: 3,
      channels: 2,
      labels,
      numClasses: 300,
    });
    await writeHierglowDataset(path, src, { chunk: 5, provenance });
    const header = await readHierglowHeader(path);
    expect(header.bodyOffset % 64).toBe(0);
    expect(header.labels?.dtype).toBe('int32');
    const ds = await openHierglowDataset(path);
    expect([ds.count, ds.height, ds.width, ds.channels]).toEqual([37, 4, 3, 2]);
    expect(ds.labels).toEqual(labels);
    expect(ds.numClasses).toBe(300);
    expect(ds.provenance).toEqual(provenance);
    expect((await ds.slice(0, 37)).pixels).toEqual(pixels);
    await ds.close();
    await verifyHierglowChecksum(path);
    // Nothing but the final file is left in the folder.
    expect(await readdir(dir)).toEqual(['a.hgds']);
  });

  it('writes at shuffled indices and still records the right checksum', async () => {
    const dir = await tempDir();
    const path = join(dir, 'b.hgds');
    const n = 50;
    const pixels = randomBytes(n * 8, 6);
    const w = await HierglowDatasetWriter.create(path, {
      count: n,
      height: 2,
      width: 2,
      channels: 2,
      labels: { dtype: 'uint8', numClasses: 3, classNames: ['a', 'b', 'c'] },
      provenance,
    });
    for (const i of randomPermutation(n, createRng(3))) {
      await w.writeAt(i, pixels.subarray(i * 8, i * 8 + 8), [i % 3]);
    }
    await w.finish();
    await verifyHierglowChecksum(path);
    const ds = await openHierglowDataset(path);
    expect((await ds.gather([49, 0])).pixels).toEqual(
      Uint8Array.from([...pixels.subarray(392), ...pixels.subarray(0, 8)]),
    );
    expect(ds.classNames).toEqual(['a', 'b', 'c']);
    await ds.close();
  });

  it('refuses to finish an incomplete file and leaves nothing behind', async () => {
    const dir = await tempDir();
    const w = await HierglowDatasetWriter.create(join(dir, 'c.hgds'), {
      count: 3,
      height: 1,
      width: 1,
      channels: 1,
      provenance,
    });
    await w.append(Uint8Array.of(1, 2));
    await expect(w.finish()).rejects.toThrow(/only 2 of the declared 3 images/);
    await expect(w.append(Uint8Array.of(1))).rejects.toThrow();
    expect(await readdir(dir)).toEqual([]);
  });

  it('rejects double writes, bad labels and partial images', async () => {
    const dir = await tempDir();
    const w = await HierglowDatasetWriter.create(join(dir, 'd.hgds'), {
      count: 3,
      height: 1,
      width: 2,
      channels: 1,
      labels: { dtype: 'uint8', numClasses: 2 },
      provenance,
    });
    await expect(w.append(Uint8Array.of(1, 2, 3), [0])).rejects.toSatisfy(
      InvalidArgumentError.isInstance,
    );
    await expect(w.append(Uint8Array.of(1, 2), [2])).rejects.toThrow(/label 2 of image 0/);
    await w.writeAt(1, Uint8Array.of(1, 2), [1]);
    await expect(w.writeAt(1, Uint8Array.of(1, 2), [1])).rejects.toThrow(/written twice/);
    await w.abort();
  });

  it('detects a flipped byte through the checksum and truncation through the size', async () => {
    const dir = await tempDir();
    const path = join(dir, 'e.hgds');
    await writeHierglowDataset(
      path,
      inMemoryDataset({
        pixels: randomBytes(400, 1),
        count: 100,
        height: 2,
        width: 2,
        channels: 1,
      }),
    );
    const bytes = await readFile(path);
    const header = await readHierglowHeader(path);
    bytes[header.bodyOffset + 17]! ^= 1;
    await writeFile(path, bytes);
    const err = await verifyHierglowChecksum(path).catch((e) => e);
    expect(CorruptDatasetError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/e\.hgds: sha256 of the data is/);
    await writeFile(path, bytes.subarray(0, bytes.length - 10));
    await expect(openHierglowDataset(path)).rejects.toThrow(
      /describes \d+ bytes but the file has \d+; it is truncated/,
    );
  });

  it('survives fuzzed files with typed errors only', async () => {
    const dir = await tempDir();
    const path = join(dir, 'f.hgds');
    const labels = Int32Array.from({ length: 20 }, (_, i) => i % 4);
    await writeHierglowDataset(
      path,
      inMemoryDataset({
        pixels: randomBytes(20 * 12, 2),
        count: 20,
        height: 2,
        width: 2,
        channels: 3,
        labels,
      }),
    );
    const valid = new Uint8Array(await readFile(path));
    let errors = 0;
    for (const m of mutations(valid, 11, 300)) {
      await writeFile(path, m);
      const r = await expectCleanFailureOrSuccess(async () => {
        const ds = await openHierglowDataset(path);
        try {
          await ds.slice(0, ds.count);
        } finally {
          await ds.close();
        }
        await verifyHierglowChecksum(path);
      });
      if (r === 'error') errors++;
    }
    expect(errors).toBeGreaterThan(200);
  });
});
