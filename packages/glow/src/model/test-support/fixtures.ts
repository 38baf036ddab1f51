/**
 * Helpers for this package's model tests (not shipped: `test-support` is excluded from the
 * build). Shapes are tiny so the tests run in seconds on two shared cores.
 */
import { type BackendName, selectBackend } from '@hierglow/backend-wasm';
import { seededUniform } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe } from 'vitest';

/** The backends the main model tests run on. */
export const TEST_BACKENDS: readonly BackendName[] = ['cpu', 'wasm'];

/** A 1x8x8 Glow with L = 2, K = 2, hidden 8: every code path, a few hundred parameters. */
export const TINY_GLOW = {
  height: 8,
  width: 8,
  channels: 1,
  levels: 2,
  stepsPerLevel: 2,
  hidden: 8,
} as const;

/** Registers `body` inside one `describe` per backend, with that backend selected first. */
export function describeOnBackends(
  title: string,
  body: (backend: BackendName) => void,
  backends: readonly BackendName[] = TEST_BACKENDS,
): void {
  for (const backend of backends) {
    describe(`${title} [${backend}]`, () => {
      beforeAll(async () => {
        await selectBackend(backend);
      });
      body(backend);
    });
  }
}

/**
 * Dequantised pixels as the data layer makes them (spec 2.1): `v/256 − 0.5 + u`, with v a
 * seeded integer in 0..255 and u uniform in [0, 1/256). NHWC `[n, ...shape]`.
 */
export function noisyPixels(n: number, shape: readonly number[], seed: number): tf.Tensor4D {
  return tf.tidy(() => {
    const levels = tf.floor(seededUniform([n, ...shape], seed, 0, 256));
    const noise = seededUniform([n, ...shape], seed + 1, 0, 1 / 256);
    return tf.add(tf.sub(tf.div(levels, 256), 0.5), noise) as tf.Tensor4D;
  });
}

/** max |a − b| over all entries, read back as a number. */
export function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

/** A tensor's values as a plain array. */
export function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}
