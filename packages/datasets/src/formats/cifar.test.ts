import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptDatasetError } from '../errors.js';
import { expectCleanFailureOrSuccess, mutations } from '../test-support/fuzz.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { randomBytes } from '../test-support/writers.js';
import { openCifarFile, openCifarFolder } from './cifar.js';

const tempDir = useTempDirs();

/** Builds CIFAR records: label byte(s), then R, G, B planes. Pixel (y, x, c) = f(n, y, x, c). */
function cifarRecords(
  n: number,
  labelBytes: number,
  labelsOf: (i: number) => number[],
  seed: number,
) {
  const planar = randomBytes(n * 3072, seed);
  const out = new Uint8Array(n * (3072 + labelBytes));
  for (let i = 0; i < n; i++) {
    out.set(labelsOf(i), i * (3072 + labelBytes));
    out.set(planar.subarray(i * 3072, (i + 1) * 3072), i * (3072 + labelBytes) + labelBytes);
  }
  return { bytes: out, planar };
}

describe('CIFAR binary', () => {
  it('converts planar records to NHWC with labels (CIFAR-10 folder, concatenated batches)', async () => {
    const dir = await tempDir();
    const sub = join(dir, 'cifar-10-batches-bin');
    await mkdir(sub);
    const batches = [1, 2, 3, 4, 5].map((b) => cifarRecords(3, 1, (i) => [(i + b) % 10], b));
    for (const [k, b] of batches.entries())
      await writeFile(join(sub, `data_batch_${k + 1}.bin`), b.bytes);
    await writeFile(join(sub, 'test_batch.bin'), cifarRecords(2, 1, () => [9], 9).bytes);
    await writeFile(
      join(sub, 'batches.meta.txt'),
      'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n',
    );
    const ds = await openCifarFolder(dir, 'train');
    expect([ds.count, ds.height, ds.width, ds.channels, ds.numClasses]).toEqual([
      15, 32, 32, 3, 10,
    ]);
    expect(ds.classNames?.[9]).toBe('truck');
    expect(Array.from(ds.labels!.subarray(3, 6))).toEqual([2, 3, 4]);
    const img = await ds.get(7); // batch 3, record 1
    const planar = batches[2]!.planar.subarray(3072, 6144);
    for (const [y, x, c] of [
      [0, 0, 0],
      [5, 17, 1],
      [31, 31, 2],
    ] as const) {
      expect(img.pixels[(y * 32 + x) * 3 + c]).toBe(planar[c * 1024 + y * 32 + x]);
    }
    expect((await openCifarFolder(dir, 'test')).count).toBe(2);
    await ds.close();
  });

  it('reads CIFAR-100 fine and coarse labels', async () => {
    const dir = await tempDir();
    const { bytes } = cifarRecords(4, 2, (i) => [i * 5, i * 25 + 3], 1);
    await writeFile(join(dir, 'train.bin'), bytes);
    const fine = await openCifarFile(join(dir, 'train.bin'), 'cifar100');
    const coarse = await openCifarFile(join(dir, 'train.bin'), 'cifar100', { labelKind: 'coarse' });
    expect(Array.from(fine.labels!)).toEqual([3, 28, 53, 78]);
    expect(Array.from(coarse.labels!)).toEqual([0, 5, 10, 15]);
    expect(fine.numClasses).toBe(100);
    await fine.close();
    await coarse.close();
  });

  it('says when a CIFAR-100 file is passed as CIFAR-10', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'x.bin'), cifarRecords(5, 2, () => [1, 1], 1).bytes);
    const err = await openCifarFile(join(dir, 'x.bin'), 'cifar10').catch((e) => e);
    expect(err.message).toMatch(
      /not a whole number of 3073-byte cifar10 records\. It fits cifar100 records/,
    );
  });

  it('rejects out-of-range labels with the record number', async () => {
    const dir = await tempDir();
    await writeFile(
      join(dir, 'test_batch.bin'),
      cifarRecords(3, 1, (i) => [i === 2 ? 10 : 0], 1).bytes,
    );
    const err = await openCifarFile(join(dir, 'test_batch.bin'), 'cifar10').catch((e) => e);
    expect(CorruptDatasetError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/test_batch\.bin: record 2 has label 10/);
    expect(err.remedy).toEqual({ kind: 'ignore-labels' });
    expect(err.message).toMatch(/ignoreLabels: true/);
  });

  it('reads records with any label bytes as images only with ignoreLabels', async () => {
    const dir = await tempDir();
    const { bytes, planar } = cifarRecords(3, 1, (i) => [24 + i], 5);
    await writeFile(join(dir, 'test_batch.bin'), bytes);
    const ds = await openCifarFile(join(dir, 'test_batch.bin'), 'cifar10', { ignoreLabels: true });
    try {
      expect(ds.count).toBe(3);
      expect(ds.labels).toBeUndefined();
      expect(ds.numClasses).toBeUndefined();
      const b = await ds.get(1);
      expect(b.labels).toBeUndefined();
      // First pixel of image 1 is its R plane's first byte.
      expect(b.pixels[0]).toBe(planar[3072]);
    } finally {
      await ds.close();
    }
  });

  it('survives fuzzed files with typed errors only', async () => {
    const dir = await tempDir();
    const valid = cifarRecords(3, 2, (i) => [i, i * 7], 4).bytes;
    for (const m of mutations(valid, 5, 200)) {
      await writeFile(join(dir, 'train.bin'), m);
      await expectCleanFailureOrSuccess(async () => {
        const ds = await openCifarFile(join(dir, 'train.bin'), 'cifar100');
        try {
          await ds.slice(0, ds.count);
        } finally {
          await ds.close();
        }
      });
    }
  });
});
