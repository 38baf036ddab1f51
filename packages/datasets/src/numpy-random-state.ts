import { InvalidArgumentError } from './errors.js';

/**
 * The subset of numpy's legacy `numpy.random.RandomState` needed to reproduce the Tiny Images
 * chunk selection of the reference code (spec 2.3) bit for bit: MT19937 seeded with a 32-bit
 * integer, `permutation(n)` and `choice(n, size, replace=False)` without probabilities.
 *
 * Semantics re-implemented from numpy's documented algorithms (checked against numpy 1.24
 * output in the tests):
 * - seeding `RandomState(s)` for 0 <= s < 2^32 is MT19937's `init_genrand(s)`;
 * - `shuffle` walks i = n-1 .. 1 and swaps i with `random_interval(i)`, which draws 32-bit
 *   words masked to the smallest all-ones mask >= i and rejects values above i;
 * - `choice(a, size, replace=False)` without `p` is `permutation(len(a))[:size]`.
 */
export class NumpyRandomState {
  private readonly mt = new Uint32Array(624);
  private mti = 624;

  /** `numpy.random.RandomState(seed)` for an integer seed in [0, 2^32). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new InvalidArgumentError(
        `NumpyRandomState seed must be an integer in [0, 2^32), got ${seed}`,
      );
    }
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1]!;
      mt[i] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + i) >>> 0;
    }
  }

  /** MT19937 `genrand_int32`: the next tempered 32-bit output. */
  nextUint32(): number {
    if (this.mti >= 624) this.twist();
    let y = this.mt[this.mti++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let k = 0; k < 624; k++) {
      const y = (mt[k]! & 0x80000000) | (mt[(k + 1) % 624]! & 0x7fffffff);
      let v = mt[(k + 397) % 624]! ^ (y >>> 1);
      if (y & 1) v ^= 0x9908b0df;
      mt[k] = v >>> 0;
    }
    this.mti = 0;
  }

  /** numpy's `random_interval(max)`: uniform integer in [0, max] by masked rejection. */
  randomInterval(max: number): number {
    if (max === 0) return 0;
    if (max > 0xffffffff) {
      throw new InvalidArgumentError(
        `randomInterval(${max}): only max < 2^32 is supported (numpy switches to 64-bit draws beyond; no dataset here has 2^32 elements)`,
      );
    }
    let mask = max;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let value = (this.nextUint32() & mask) >>> 0;
    while (value > max) value = (this.nextUint32() & mask) >>> 0;
    return value;
  }

  /** `RandomState.shuffle` of a 1-d array, in place. */
  shuffle(values: Int32Array | Float64Array | number[]): void {
    for (let i = values.length - 1; i > 0; i--) {
      const j = this.randomInterval(i);
      const t = values[i]!;
      values[i] = values[j]!;
      values[j] = t;
    }
  }

  /** `RandomState.permutation(n)`: a shuffled `arange(n)`. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    this.shuffle(p);
    return p;
  }

  /** `RandomState.choice(n, size, replace=False)` (no `p`): positions into `arange(n)`. */
  choiceWithoutReplacement(n: number, size: number): Int32Array {
    if (size > n)
      throw new InvalidArgumentError(`cannot take ${size} samples without replacement from ${n}`);
    return this.permutation(n).subarray(0, size);
  }
}
