import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CorruptDatasetError } from '../errors.js';
import { expectCleanFailureOrSuccess, mutations } from '../test-support/fuzz.js';
import { encodeMat } from '../test-support/mat-writer.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { readMatFile } from './matlab-v5.js';
import { openSvhnMat } from './svhn.js';

const tempDir = useTempDirs();
const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
/** The pixel formula the scipy fixtures were generated with (see fixtures/README.md). */
const expected = (y: number, x: number, c: number, n: number) =>
  (y * 7 + x * 3 + c * 50 + n * 11) % 256;

function svhnLike(n: number, labels: number[]) {
  const X = new Uint8Array(32 * 32 * 3 * n);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++)
      for (let x = 0; x < 32; x++)
        for (let y = 0; y < 32; y++) X[y + 32 * (x + 32 * (c + 3 * i))] = expected(y, x, c, i);
  return { X, y: Float64Array.from(labels) };
}

describe('SVHN .mat (MATLAB v5)', () => {
  for (const name of ['svhn-like-compressed.mat', 'svhn-like-uncompressed.mat']) {
    it(`reads the scipy.io.savemat fixture ${name}`, async () => {
      const ds = await openSvhnMat(fixture(name));
      expect([ds.count, ds.height, ds.width, ds.channels]).toEqual([5, 32, 32, 3]);
      expect(Array.from(ds.labels!)).toEqual([1, 0, 3, 0, 7]);
      const b = await ds.slice(0, 5);
      for (const [n, y, x, c] of [
        [0, 0, 0, 0],
        [2, 5, 17, 1],
        [4, 31, 30, 2],
        [3, 12, 0, 2],
      ] as const) {
        expect(b.pixels[((n * 32 + y) * 32 + x) * 3 + c]).toBe(expected(y, x, c, n));
      }
      await ds.close();
    });
  }

  for (const opts of [
    { compress: true },
    { bigEndian: true },
    { compress: true, bigEndian: true },
  ]) {
    it(`reads files from the test writer ${JSON.stringify(opts)}, double labels stored as uint8 or double`, async () => {
      const dir = await tempDir();
      const { X, y } = svhnLike(3, [10, 2, 9]);
      const path = join(dir, 'test_32x32.mat');
      await writeFile(
        path,
        encodeMat(
          [
            { name: 'y', dims: [3, 1], data: y, storeDoubleAsUint8: Boolean(opts.compress) },
            { name: 'X', dims: [32, 32, 3, 3], data: X },
          ],
          opts,
        ),
      );
      const ds = await openSvhnMat(path);
      expect(Array.from(ds.labels!)).toEqual([0, 2, 9]);
      expect((await ds.get(2)).pixels[(7 * 32 + 9) * 3 + 1]).toBe(expected(7, 9, 1, 2));
      await ds.close();
    });
  }

  it('lists variables and reports a missing X or a label mismatch by file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'a.mat');
    await writeFile(path, encodeMat([{ name: 'y', dims: [2, 1], data: Float64Array.of(1, 2) }]));
    const mat = await readMatFile(path);
    expect(mat.variables.map((v) => [v.name, v.className, v.dims])).toEqual([
      ['y', 'double', [2, 1]],
    ]);
    await mat.close();
    await expect(openSvhnMat(path)).rejects.toThrow(/a\.mat: no variable 'X' \(found y\)/);
    const { X } = svhnLike(2, []);
    await writeFile(
      path,
      encodeMat([
        { name: 'X', dims: [32, 32, 3, 2], data: X },
        { name: 'y', dims: [3, 1], data: Float64Array.of(1, 2, 3) },
      ]),
    );
    await expect(openSvhnMat(path)).rejects.toThrow(/'y' has 3 labels but 'X' has 2 images/);
    await writeFile(
      path,
      encodeMat([
        { name: 'X', dims: [32, 32, 3, 2], data: X },
        { name: 'y', dims: [2, 1], data: Float64Array.of(1, 11) },
      ]),
    );
    const err = await openSvhnMat(path).catch((e) => e);
    expect(CorruptDatasetError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/label 11 of image 1/);
  });

  it('survives fuzzed files (plain and compressed) with typed errors only', async () => {
    const dir = await tempDir();
    const { X, y } = svhnLike(2, [3, 10]);
    const vars = [
      { name: 'X', dims: [32, 32, 3, 2], data: X },
      { name: 'y', dims: [2, 1], data: y },
    ];
    const path = join(dir, 'f.mat');
    for (const compress of [false, true]) {
      for (const m of mutations(encodeMat(vars, { compress }), compress ? 3 : 4, 200)) {
        await writeFile(path, m);
        await expectCleanFailureOrSuccess(async () => {
          const ds = await openSvhnMat(path);
          try {
            await ds.slice(0, ds.count);
          } finally {
            await ds.close();
          }
        });
      }
    }
  });
});
