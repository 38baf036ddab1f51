import { createRng, type Rng } from '@hierglow/random';
import { InvalidOptionError } from '../errors.js';

/**
 * hierglow's seeded generator (`@hierglow/random`) for reproducible bootstraps without
 * Math.random; a bad seed is reported as this package's {@link InvalidOptionError}.
 */
export function seededRng(seed: number): Rng {
  if (!Number.isSafeInteger(seed)) {
    throw new InvalidOptionError(`seed must be a safe integer, got ${seed}.`);
  }
  return createRng(seed);
}
