import type { Rng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.js';

/** A tensor of i.i.d. N(0, std²) draws from a seeded JS generator (reproducible on every backend). */
export function normalTensor(shape: number[], std: number, rng: Rng): tf.Tensor {
  const n = tf.util.sizeFromShape(shape);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = std * rng.normal();
  return tf.tensor(values, shape);
}

/** A tensor of i.i.d. U(−bound, bound) draws from a seeded JS generator. */
export function uniformTensor(shape: number[], bound: number, rng: Rng): tf.Tensor {
  const n = tf.util.sizeFromShape(shape);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = bound * (2 * rng.uniform() - 1);
  return tf.tensor(values, shape);
}

/** Throws a {@link ConfigError} from `who` unless each named option is a positive integer. */
export function assertPositiveIntegers(who: string, options: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(options)) {
    if (!Number.isInteger(value) || (value as number) < 1) {
      throw new ConfigError(
        `${who}: '${name}' must be a positive integer, got ${JSON.stringify(value)}`,
      );
    }
  }
}

/** Throws a {@link ConfigError} from `who` unless `seed` is an integer. */
export function assertSeed(who: string, seed: unknown): void {
  if (!Number.isInteger(seed)) {
    throw new ConfigError(`${who}: 'seed' must be an integer, got ${JSON.stringify(seed)}`);
  }
}
