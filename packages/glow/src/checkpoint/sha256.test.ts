import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { sha256 } from './sha256.js';

describe('sha256', () => {
  it('matches the FIPS 180-4 examples', () => {
    expect(sha256(new Uint8Array())).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(sha256(new TextEncoder().encode('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('matches node:crypto for every length around the block and padding edges, and on views', () => {
    const source = new Uint8Array(300);
    for (let i = 0; i < source.length; i++) source[i] = (i * 151 + 7) & 0xff;
    for (const length of [1, 55, 56, 63, 64, 65, 119, 120, 128, 200, 299]) {
      for (const offset of [0, 1]) {
        const view = source.subarray(offset, offset + length);
        expect(sha256(view), `length ${length} at offset ${offset}`).toBe(
          createHash('sha256').update(view).digest('hex'),
        );
      }
    }
  });
});
