import { readFileSync } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CorruptDatasetError } from '../errors.js';
import { expectCleanFailureOrSuccess, mutations } from '../test-support/fuzz.js';
import { useTempDirs } from '../test-support/temp-dir.js';
import {
  openTinyImages,
  parseTinyExclusionList,
  selectTinyChunks,
  splitChunks,
  TINY_IMAGES,
} from './tiny-images.js';

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/numpy-random-state.json', import.meta.url), 'utf8'),
);
const tempDir = useTempDirs();

describe('Tiny Images chunk selection (spec 2.3)', () => {
  it('reproduces the reference selection of the full 79 302 017-image file bit for bit', () => {
    const kept = selectTinyChunks({ totalImages: TINY_IMAGES.images });
    expect(fixture.tiny.num_starts).toBe(1_239_094);
    expect(kept.length).toBe(24_415);
    expect(Array.from(kept.subarray(0, 100))).toEqual(fixture.tiny.first_100_starts);
    expect(Array.from(kept.subarray(-5))).toEqual(fixture.tiny.last_5_starts);
    expect(kept.reduce((s, v) => s + v, 0)).toBe(fixture.tiny.sum_of_kept_starts);
    let sq = 0n;
    for (const v of kept) sq += BigInt(v / 64) ** 2n;
    expect(Number(sq % 1_000_000_000n)).toBe(
      fixture.tiny.sum_of_squares_of_kept_chunk_numbers_mod_1e9,
    );
  });

  it('skips chunks containing excluded indices and keeps walking the same permutation', () => {
    const plain = selectTinyChunks({ totalImages: TINY_IMAGES.images, numChunks: 30 });
    const exclude = [plain[0]! + 5, plain[3]! + 63]; // inside chunks 0 and 3 of the walk
    const filtered = selectTinyChunks({ totalImages: TINY_IMAGES.images, numChunks: 28, exclude });
    expect(Array.from(filtered)).toEqual(Array.from(plain).filter((_, i) => i !== 0 && i !== 3));
  });

  it('parses one-based exclusion lists, skipping 0 ("not found")', () => {
    expect(Array.from(parseTinyExclusionList('1\n0\n132416\r\n\n', 'x.txt'))).toEqual([0, 132415]);
    expect(() => parseTinyExclusionList('12\nabc\n', 'cifar_indexes')).toThrow(
      /cifar_indexes: line 2 is "abc"/,
    );
  });

  it('fails exclusion lists with random or truncated content with typed errors only', async () => {
    const valid = new TextEncoder().encode('17\n0\n99999\n123456789\n');
    for (const m of mutations(valid, 3, 200)) {
      await expectCleanFailureOrSuccess(async () =>
        parseTinyExclusionList(new TextDecoder().decode(m), 'list.txt'),
      );
    }
  });

  it('splits 24 415 chunks into 1 250 048 train and 312 512 test images, disjoint', () => {
    const kept = selectTinyChunks({ totalImages: TINY_IMAGES.images });
    const train = splitChunks(kept, 'train');
    const test = splitChunks(kept, 'test');
    expect(train.length * 64).toBe(1_250_048);
    expect(test.length * 64).toBe(312_512);
    expect(new Set([...train, ...test]).size).toBe(24_415);
  });
});

describe('openTinyImages', () => {
  it('reads column-major records and applies the selection to a small file', async () => {
    const dir = await tempDir();
    const path = join(dir, 'tiny_images.bin');
    const n = 64 * 12 + 10; // 12 complete chunks and an incomplete one
    const f = await open(path, 'w');
    const rec = new Uint8Array(3072);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++)
        for (let x = 0; x < 32; x++)
          for (let y = 0; y < 32; y++)
            rec[y + 32 * x + 1024 * c] = (i + y * 3 + x * 5 + c * 70) & 255;
      await f.write(rec);
    }
    await f.close();
    const all = await openTinyImages(path, { selection: 'all' });
    expect(all.count).toBe(n);
    const img = await all.get(700);
    expect(img.pixels[(4 * 32 + 9) * 3 + 2]).toBe((700 + 12 + 45 + 140) & 255);
    await all.close();
    // With the reference selection, a file this small has too few chunks for 24 415: say so.
    await expect(openTinyImages(path)).rejects.toThrow(/only 12 chunks of 64 images are available/);
    const sel = await openTinyImages(path, { numChunks: 5 });
    const starts = selectTinyChunks({ totalImages: n, numChunks: 5 });
    expect(sel.count).toBe(320);
    expect(sel.provenance.details?.matchesPaperSelection).toBe(false);
    const b = await sel.gather([0, 64 * 3 + 17]);
    expect(b.pixels[0]).toBe(starts[0]! & 255);
    expect(b.pixels[3072]).toBe((starts[3]! + 17) & 255);
    await sel.close();
  });

  it('rejects a file that is not whole records', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 't.bin'), new Uint8Array(3072 * 2 + 5));
    const err = await openTinyImages(join(dir, 't.bin')).catch((e) => e);
    expect(CorruptDatasetError.isInstance(err)).toBe(true);
    expect(err.message).toMatch(/t\.bin: 6149 bytes is not a whole number of 3072-byte/);
  });
});
