import { createRng } from '@hierglow/random';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import type { ImageBatch } from '../image-dataset.js';
import { specTransform, transformBatch } from './transforms.js';

function batchOf(
  pixels: number[],
  count: number,
  height: number,
  width: number,
  channels: number,
): ImageBatch {
  return { count, height, width, channels, pixels: Uint8Array.from(pixels) };
}
const ramp = (n: number) => Array.from({ length: n }, (_, i) => i % 256);

describe('transformBatch', () => {
  it('maps v to v/256 − 0.5 (none) and adds 1/512 (bin-centre)', () => {
    const b = batchOf([0, 128, 255, 7], 1, 2, 2, 1);
    const none = transformBatch(b, { noise: 'none' }, createRng(1));
    expect(Array.from(none)).toEqual([-0.5, 0, 255 / 256 - 0.5, 7 / 256 - 0.5]);
    const centre = transformBatch(b, { noise: 'bin-centre' }, createRng(1));
    expect(centre[0]).toBeCloseTo(-0.5 + 1 / 512, 7);
    expect(centre[2]).toBeCloseTo(255.5 / 256 - 0.5, 7);
  });

  it('adds uniform noise in [0, 1/256) with mean 1/512', () => {
    const n = 20000;
    const b = batchOf(new Array(n).fill(100), 1, 100, 200, 1);
    const x = transformBatch(b, { noise: 'uniform' }, createRng(2));
    let sum = 0;
    for (const v of x) {
      const u = v - (100 / 256 - 0.5);
      expect(u).toBeGreaterThanOrEqual(-1e-7);
      expect(u).toBeLessThan(1 / 256 + 1e-7);
      sum += u;
    }
    expect(sum / n).toBeCloseTo(1 / 512, 4);
  });

  it("translates by integers in [−3, 3] with zero fill, with torchvision's probabilities", () => {
    const counts = new Map<number, number>();
    const rng = createRng(3);
    const img = batchOf(new Array(32 * 32).fill(200), 1, 32, 32, 1);
    const trials = 6400;
    for (let t = 0; t < trials; t++) {
      const x = transformBatch(img, { translate: 0.1, noise: 'none' }, rng);
      // Count the zero-filled columns on the left or right: |tx|.
      let zeroCols = 0;
      for (let c = 0; c < 32; c++) if (x[16 * 32 + c] === -0.5) zeroCols++;
      const rowZeros = Array.from({ length: 32 }, (_, r) => x[r * 32 + 16] === -0.5).filter(
        Boolean,
      ).length;
      expect(zeroCols).toBeLessThanOrEqual(3);
      expect(rowZeros).toBeLessThanOrEqual(3);
      counts.set(zeroCols, (counts.get(zeroCols) ?? 0) + 1);
    }
    // P(|tx| = 0) = 1/6.4, P(|tx| = 1 or 2) = 2/6.4, P(|tx| = 3) = 1.4/6.4.
    expect(counts.get(0)! / trials).toBeCloseTo(1 / 6.4, 1);
    expect(counts.get(1)! / trials).toBeCloseTo(2 / 6.4, 1);
    expect(counts.get(3)! / trials).toBeCloseTo(1.4 / 6.4, 1);
  });

  it('shifts content exactly (a single bright pixel moves by whole pixels)', () => {
    const px = new Array(32 * 32).fill(0);
    px[10 * 32 + 10] = 255;
    const b = batchOf(px, 1, 32, 32, 1);
    const seen = new Set<string>();
    const rng = createRng(4);
    for (let t = 0; t < 300; t++) {
      const x = transformBatch(b, { translate: 0.1, hflip: true, noise: 'none' }, rng);
      const at = x.findIndex((v) => v > 0);
      const y = Math.floor(at / 32);
      const xx = at % 32;
      const xUnflipped = xx > 16 ? 31 - xx : xx;
      expect(Math.abs(y - 10)).toBeLessThanOrEqual(3);
      expect(Math.abs(xUnflipped - 10)).toBeLessThanOrEqual(3);
      seen.add(`${y},${xx}`);
    }
    expect(seen.size).toBeGreaterThan(60); // 7 x 7 shifts x 2 flips = 98 positions
  });

  it('flips horizontally with probability ½', () => {
    const b = batchOf(ramp(4), 1, 1, 4, 1);
    const rng = createRng(5);
    let flipped = 0;
    for (let t = 0; t < 2000; t++) {
      const x = transformBatch(b, { hflip: true, noise: 'none' }, rng);
      if (x[0]! > x[3]!) flipped++;
    }
    expect(flipped / 2000).toBeCloseTo(0.5, 1);
  });

  it('resizes 28 → 32 and converts RGB to grey (float without augmentation, floored with)', () => {
    const rgb = batchOf([255, 255, 255, 10, 20, 30], 2, 1, 1, 3);
    const x = transformBatch(rgb, { channels: 1, noise: 'none' }, createRng(6));
    expect(x[0]! * 256 + 128).toBeCloseTo(0.9999 * 255, 3);
    expect(x[1]! * 256 + 128).toBeCloseTo(0.2989 * 10 + 0.587 * 20 + 0.114 * 30, 3);
    const aug = transformBatch(rgb, { channels: 1, hflip: true, noise: 'none' }, createRng(6));
    expect(aug[0]! * 256 + 128).toBeCloseTo(254, 4);
    const mnist = batchOf(ramp(28 * 28 * 2), 2, 28, 28, 1);
    expect(transformBatch(mnist, specTransform('mnist', 'eval'), createRng(7)).length).toBe(
      2 * 32 * 32,
    );
  });

  it("perturbs a fraction μ of values to uniform levels (Ren et al.'s background data)", () => {
    const n = 40000;
    const b = batchOf(new Array(n).fill(100), 1, 200, 200, 1);
    const x = transformBatch(b, { noise: 'none', perturb: 0.2 }, createRng(9));
    const levels = Array.from(x, (v) => Math.round((v + 0.5) * 256));
    const changed = levels.filter((v) => v !== 100);
    // A replaced value is 100 again with probability 1/256: μ·255/256 of values change.
    expect(changed.length / n).toBeCloseTo(0.2 * (255 / 256), 2);
    const mean = changed.reduce((a, v) => a + v, 0) / changed.length;
    expect(mean).toBeGreaterThan(120);
    expect(mean).toBeLessThan(135);
    expect(Math.min(...changed)).toBe(0);
    expect(Math.max(...changed)).toBe(255);
    const off = transformBatch(b, { noise: 'none', perturb: 0 }, createRng(9));
    expect(new Set(Array.from(off)).size).toBe(1);
    expect(() => transformBatch(b, { noise: 'none', perturb: 1.5 }, createRng(1))).toThrow(
      /perturb must be in \[0, 1\]/,
    );
  });

  it('is reproducible for the same rng seed and differs for another', () => {
    const b = batchOf(ramp(32 * 32 * 3 * 4), 4, 32, 32, 3);
    const opts = specTransform('cifar10', 'train');
    const a1 = transformBatch(b, opts, createRng(8));
    const a2 = transformBatch(b, opts, createRng(8));
    const a3 = transformBatch(b, opts, createRng(9));
    expect(a1).toEqual(a2);
    expect(a1).not.toEqual(a3);
  });

  it('rejects impossible options', () => {
    const grey = batchOf([1], 1, 1, 1, 1);
    expect(() => transformBatch(grey, { channels: 3, noise: 'none' }, createRng(1))).toThrow(
      InvalidArgumentError,
    );
    expect(() => transformBatch(grey, { translate: 2, noise: 'none' }, createRng(1))).toThrow(
      /translate must be in/,
    );
  });
});
