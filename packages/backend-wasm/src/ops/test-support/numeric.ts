import { createRng } from '@hierglow/random';

export { relativeError } from '@hierglow/flow-layers/testing';

/** Seeded standard-normal values, so every backend sees the same inputs. */
export function normals(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}
