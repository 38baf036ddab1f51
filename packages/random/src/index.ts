/**
 * `@hierglow/random`: the one seeded pseudo-random generator of hierglow, shared by the bijector
 * library (initialisation), the datasets (shuffling, augmentation) and the metrics (bootstrap).
 * No dependencies, so every package can use it without import loops.
 *
 * The generator is xoshiro128** with its state expanded from the seed by splitmix32, so nearby
 * seeds (0, 1, 2, ...) give unrelated streams. Streams are derived from a base seed plus integers
 * (epoch, step, ...) with {@link deriveSeed}, so any part of a run can be regenerated without
 * replaying what came before it.
 */

/** A seeded pseudo-random stream. */
export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform in [0, 1), 32 bits of resolution. */
  uniform(): number;
  /** Standard normal (Box-Muller; draws come in pairs). */
  normal(): number;
  /** Uniform integer in [0, n), unbiased; n must be an integer in [1, 2^32]. */
  int(n: number): number;
}

/** Murmur3's 32-bit finaliser: a cheap bijective mixer with good avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Combines a seed with further integers (e.g. epoch and step) into one 32-bit seed. Different
 * tuples give unrelated streams; the same tuple always gives the same stream.
 */
export function deriveSeed(seed: number, ...parts: number[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  for (const p of parts) {
    // Mix in both 32-bit halves so step counts beyond 2^32 still differ.
    h = fmix32(h ^ fmix32((p >>> 0) + 0x7f4a7c15));
    h = fmix32(h ^ fmix32(Math.floor(p / 4294967296) >>> 0));
  }
  return h;
}

/**
 * Creates an {@link Rng} from an integer seed. Seeds below 2^32 are used as they are; larger
 * safe integers fold their high half in, so they differ from their low half alone.
 */
export function createRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`createRng: the seed must be a safe integer, got ${seed}`);
  }
  let x = ((seed >>> 0) ^ (Math.floor(seed / 4294967296) >>> 0)) >>> 0;
  const splitmix = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let s0 = splitmix();
  let s1 = splitmix();
  let s2 = splitmix();
  let s3 = splitmix();
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // the all-zero state is a fixed point
  const uint32 = (): number => {
    const r = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return r;
  };
  const uniform = (): number => uint32() / 4294967296;
  let spare: number | null = null;
  return {
    uint32,
    uniform,
    normal(): number {
      if (spare !== null) {
        const v = spare;
        spare = null;
        return v;
      }
      let u = 0;
      while (u === 0) u = uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      const theta = 2 * Math.PI * uniform();
      spare = r * Math.sin(theta);
      return r * Math.cos(theta);
    },
    int(n: number): number {
      if (!Number.isInteger(n) || n < 1 || n > 4294967296) {
        throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
      }
      // Rejection on the top of the range keeps every residue equally likely.
      const limit = 4294967296 - (4294967296 % n);
      let r = uint32();
      while (r >= limit) r = uint32();
      return r % n;
    },
  };
}

function rotl(v: number, k: number): number {
  return (v << k) | (v >>> (32 - k));
}

/** A random permutation of 0..n-1 (Fisher-Yates) drawn from `rng`. */
export function randomPermutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
