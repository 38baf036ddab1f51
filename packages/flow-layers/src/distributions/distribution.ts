import type * as tf from '@tensorflow/tfjs-core';

/**
 * A distribution over examples of a fixed event shape: a batch of `n` examples has shape
 * `[n, ...eventShape]`, and its log-densities (nats) have shape `[n]`.
 */
export interface Distribution {
  readonly eventShape: readonly number[];
  /** Per-example log-density in nats, shape `[batch]`. */
  logProb(x: tf.Tensor): tf.Tensor1D;
  /** `n` examples, `[n, ...eventShape]`; the same `seed` gives the same examples. */
  sample(n: number, seed?: number): tf.Tensor;
}
