import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';

/**
 * `a @ b` for 2-D tensors whose gradient transposes explicitly instead of using matMul's
 * `transposeA`/`transposeB` flags, which are ~10x slower on the wasm backend.
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0]) {
    throw new ShapeError(`matMul: cannot multiply [${a.shape}] by [${b.shape}]`);
  }
  const run = tf.customGrad(((aIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const at = aIn as tf.Tensor2D;
    const bt = bIn as tf.Tensor2D;
    save([at, bt]);
    return {
      value: tf.matMul(at, bt),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [as, bs] = saved as [tf.Tensor2D, tf.Tensor2D];
        const g = dy as tf.Tensor2D;
        return [tf.matMul(g, tf.transpose(bs)), tf.matMul(tf.transpose(as), g)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return run(a, b) as tf.Tensor2D;
}
