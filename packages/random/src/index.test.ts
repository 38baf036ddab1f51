import { describe, expect, it } from 'vitest';
import { createRng, deriveSeed, randomPermutation } from './index.js';

describe('createRng', () => {
  it('is xoshiro128** seeded through splitmix32: the stream the datasets have always drawn', () => {
    // Known answers of the generator @hierglow/datasets used before this package existed, so
    // a run's shuffles and augmentations are the same after the move.
    const r = createRng(0);
    expect([r.uint32(), r.uint32(), r.uint32()]).toEqual([3809008728, 1133695204, 53579671]);
    const seed = deriveSeed(42, 3, 7);
    expect(seed).toBe(3546700353);
    const s = createRng(seed);
    expect([s.uint32(), s.int(10)]).toEqual([1549839394, 7]);
  });

  it('repeats for a seed, differs between nearby seeds, and folds in the high half of large seeds', () => {
    const draw = (seed: number) => Array.from({ length: 4 }, createRng(seed).uint32);
    expect(draw(5)).toEqual(draw(5));
    expect(draw(5)).not.toEqual(draw(6));
    expect(draw(2 ** 32 + 5)).not.toEqual(draw(5));
  });

  it('draws uniform values in [0, 1), unbiased integers, and standard normals', () => {
    const rng = createRng(11);
    const n = 20000;
    let sum = 0;
    let sq = 0;
    const counts = new Array<number>(3).fill(0);
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      expect(u >= 0 && u < 1).toBe(true);
      counts[rng.int(3)]! += 1;
      const z = rng.normal();
      sum += z;
      sq += z * z;
    }
    for (const c of counts) expect(Math.abs(c / n - 1 / 3)).toBeLessThan(0.02);
    expect(Math.abs(sum / n)).toBeLessThan(0.03);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.05);
  });

  it('rejects seeds and ranges it cannot honour, naming the value', () => {
    expect(() => createRng(1.5)).toThrow(/safe integer, got 1.5/);
    expect(() => createRng(Number.NaN)).toThrow(/safe integer/);
    expect(() => createRng(1).int(0)).toThrow(/\[1, 2\^32\], got 0/);
  });
});

describe('deriveSeed and randomPermutation', () => {
  it('gives unrelated seeds for different tuples, including step counts beyond 2^32', () => {
    const seeds = new Set([
      deriveSeed(1),
      deriveSeed(1, 0),
      deriveSeed(1, 1),
      deriveSeed(1, 0, 1),
      deriveSeed(1, 1, 0),
      deriveSeed(1, 2 ** 32),
    ]);
    expect(seeds.size).toBe(6);
    expect(deriveSeed(1, 2, 3)).toBe(deriveSeed(1, 2, 3));
  });

  it('permutes 0..n-1', () => {
    const p = randomPermutation(50, createRng(3));
    expect([...p].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
