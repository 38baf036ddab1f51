import { ShapeError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';

/**
 * `xᵀ` for a 2-D tensor, computed as a rank-3 transpose. Why: the wasm backend's rank-2
 * Transpose is pathologically slow for tall matrices, an order of magnitude slower than the same
 * data viewed as rank 3 (tfjs 4.22; figures in bench/README.md). The values are moved, never
 * computed, so the result is exact; the gradient is a
 * rank-3 transpose too.
 */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  if (x.rank !== 2) throw new ShapeError(`transpose2d expects a rank-2 tensor, got [${x.shape}]`);
  const [rows, cols] = x.shape;
  return tf.tidy(() => {
    if (rows % 2 === 0 && rows > 2) {
      // [2, R/2, C] → [C, 2, R/2]: out[c, a, b] = x[a·R/2 + b, c].
      const t = tf.transpose(tf.reshape(x, [2, rows / 2, cols]), [2, 0, 1]);
      return tf.reshape(t, [cols, rows]) as tf.Tensor2D;
    }
    if (cols % 2 === 0 && cols > 2) {
      // [R, 2, C/2] → [2, C/2, R]: out[a, b, r] = x[r, a·C/2 + b].
      const t = tf.transpose(tf.reshape(x, [rows, 2, cols / 2]), [1, 2, 0]);
      return tf.reshape(t, [cols, rows]) as tf.Tensor2D;
    }
    return tf.transpose(x) as tf.Tensor2D;
  });
}
