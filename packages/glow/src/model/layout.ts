import * as tf from '@tensorflow/tfjs-core';

/** Product of a shape's entries. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);

/**
 * log N(u; 0, I) per example, in nats: `Σ_d (−u_d²/2 − ½ log 2π)` over every non-batch axis
 * (the `Z_k` term of spec 3.7).
 */
export function standardNormalLogProb(u: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const dims = sizeOf(u.shape.slice(1));
    const rows = tf.reshape(u, [u.shape[0]!, dims]);
    return tf.sub(tf.mul(tf.sum(tf.square(rows), 1), -0.5), dims * HALF_LOG_TWO_PI) as tf.Tensor1D;
  });
}
