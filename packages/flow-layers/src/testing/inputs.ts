import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import type { Bijector } from '../bijector.js';

/**
 * A float32 tensor of i.i.d. normal values drawn from a seeded generator, so every run and
 * every backend sees the same input.
 *
 * @example
 * const x = seededNormal([2, 4, 4, 2], 1); // std 1
 */
export function seededNormal(shape: number[], seed: number, std = 1, mean = 0): tf.Tensor {
  const rng = createRng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = mean + std * rng.normal();
  return tf.tensor(values, shape, 'float32');
}

/** A float32 tensor of i.i.d. values uniform in [low, high), from a seeded generator. */
export function seededUniform(shape: number[], seed: number, low = 0, high = 1): tf.Tensor {
  const rng = createRng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = low + (high - low) * rng.uniform();
  return tf.tensor(values, shape, 'float32');
}

/**
 * Adds seeded N(0, scale²) noise to every trainable variable of `bijector`, so checks run away
 * from the identity-like initial state (ActNorm at loc 0 / logs 0, zero-initialised coupling
 * outputs), where a wrong log-det formula would still give the right answer. Non-trainable
 * buffers (fixed permutations, signs) are left alone.
 */
export function perturbVariables(bijector: Bijector, seed: number, scale = 0.1): void {
  if (scale === 0) return;
  const rng = createRng(seed);
  const named = bijector.variables();
  for (const name of Object.keys(named).sort()) {
    const v = named[name]!;
    if (!v.trainable) continue;
    const noise = new Float32Array(v.size);
    for (let i = 0; i < noise.length; i++) noise[i] = scale * rng.normal();
    tf.tidy(() => {
      v.assign(tf.add(v, tf.tensor(noise, v.shape, 'float32')));
    });
  }
}
