import { InvalidOptionError } from '../errors.js';

/** A small seeded generator: reproducible bootstraps without depending on Math.random. */
export interface Random {
  /** Uniform float in [0, 1) with 32 random bits. */
  nextFloat(): number;
  /** Uniform integer in [0, n) for n <= 2^32. */
  nextIndex(n: number): number;
}

/**
 * xoshiro128** seeded through splitmix32, so nearby seeds (0, 1, 2...) give unrelated streams.
 * Period 2^128 - 1; plenty for bootstrap resampling.
 */
export function createRandom(seed: number): Random {
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidOptionError(`seed must be a safe integer, got ${seed}.`);
  }
  let s = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
  const splitmix32 = (): number => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = splitmix32();
  let b = splitmix32();
  let c = splitmix32();
  let d = splitmix32();
  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  return {
    nextFloat: () => nextUint32() / 2 ** 32,
    nextIndex: (n) => Math.floor((nextUint32() / 2 ** 32) * n),
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
