import * as tf from '@tensorflow/tfjs-core';

/**
 * NHWC `[B, H, W, C]` to vectors `[B, C·H·W]` in NCHW order (index `c·H·W + h·W + w`), the
 * order the reference code flattens in (spec 3.5, 10.3). Per-dimension parameters stored in this
 * order line up one to one with a PyTorch checkpoint.
 */
export function flattenNchw(x: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => {
    const [b] = x.shape;
    return tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [b!, -1]) as tf.Tensor2D;
  });
}

/** Inverse of {@link flattenNchw}: vectors `[B, C·H·W]` back to NHWC `[B, H, W, C]`. */
export function unflattenNchw(
  v: tf.Tensor,
  [height, width, channels]: readonly number[],
): tf.Tensor4D {
  return tf.tidy(() => {
    const nchw = tf.reshape(v, [v.shape[0]!, channels!, height!, width!]);
    return tf.transpose(nchw, [0, 2, 3, 1]) as tf.Tensor4D;
  });
}

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
