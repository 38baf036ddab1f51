import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { resizeBilinearPil } from './resize-bilinear.js';

interface Case {
  name: string;
  inShape: number[];
  outSize: [number, number];
  input: number[];
  output: number[];
}
const fixture: { cases: Case[] } = JSON.parse(
  readFileSync(new URL('../fixtures/pil-bilinear.json', import.meta.url), 'utf8'),
);

describe('resizeBilinearPil', () => {
  for (const c of fixture.cases) {
    it(`matches Pillow byte for byte: ${c.name}`, () => {
      const [h, w, ch = 1] = c.inShape as [number, number, number?];
      const out = resizeBilinearPil(Uint8Array.from(c.input), h, w, ch, c.outSize[0], c.outSize[1]);
      expect(Array.from(out)).toEqual(c.output);
    });
  }

  it('is the identity at the same size and keeps a constant image constant', () => {
    const src = Uint8Array.from({ length: 28 * 28 }, (_, i) => i % 251);
    expect(resizeBilinearPil(src, 28, 28, 1, 28, 28)).toEqual(src);
    const flat = new Uint8Array(28 * 28 * 3).fill(77);
    expect(resizeBilinearPil(flat, 28, 28, 3, 32, 32).every((v) => v === 77)).toBe(true);
  });
});
