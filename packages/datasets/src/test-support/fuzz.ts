import { createRng } from '@hierglow/random';
import { expect } from 'vitest';
import { DatasetError } from '../errors.js';

/** Variants of a valid file: truncations, byte flips, header scribbles and pure noise. */
export function* mutations(valid: Uint8Array, seed: number, count: number): Generator<Uint8Array> {
  const rng = createRng(seed);
  for (let i = 0; i < count; i++) {
    const kind = i % 4;
    if (kind === 0) {
      yield valid.slice(0, rng.int(valid.length));
    } else if (kind === 1) {
      const b = valid.slice();
      const flips = 1 + rng.int(8);
      for (let f = 0; f < flips; f++) b[rng.int(b.length)] = rng.uint32() & 0xff;
      yield b;
    } else if (kind === 2) {
      const b = valid.slice();
      const head = Math.min(b.length, 160);
      for (let f = 0; f < 4; f++) b[rng.int(head)] = rng.uint32() & 0xff;
      yield b;
    } else {
      const b = new Uint8Array(rng.int(4096));
      for (let k = 0; k < b.length; k++) b[k] = rng.uint32() & 0xff;
      if (b.length >= 4 && rng.int(2) === 0) b.set(valid.subarray(0, Math.min(8, valid.length)));
      yield b;
    }
  }
}

/**
 * Runs `attempt` and checks it either succeeds or fails with one of this package's errors:
 * never a RangeError, TypeError or anything else from deep inside a parser.
 */
export async function expectCleanFailureOrSuccess(
  attempt: () => Promise<unknown>,
): Promise<'ok' | 'error'> {
  try {
    await attempt();
    return 'ok';
  } catch (e) {
    if (!DatasetError.isInstance(e)) {
      expect.fail(
        `expected a DatasetError, got ${(e as Error)?.name}: ${(e as Error)?.message}\n${(e as Error)?.stack}`,
      );
    }
    return 'error';
  }
}
