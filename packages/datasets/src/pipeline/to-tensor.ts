import type { Tensor4D, tensor4d } from '@tensorflow/tfjs-core';
import type { Batch } from './batches.js';

/**
 * Wraps a batch's values as a float32 NHWC `tf.Tensor4D`. The tfjs module is passed in, so this
 * package never loads tfjs itself: `batchToTensor(batch, tf)`. The caller owns (disposes) the
 * tensor.
 */
export function batchToTensor(batch: Batch, tf: { tensor4d: typeof tensor4d }): Tensor4D {
  return tf.tensor4d(batch.x, batch.shape, 'float32');
}
