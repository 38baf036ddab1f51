import * as tf from '@tensorflow/tfjs-core';
import { InvalidOptionError } from '../errors.js';
import { checkLogPVector } from './outlier-loss.js';

/** Options of {@link marginLoss}. */
export interface MarginLossOptions {
  /**
   * The margin in nats. The reference uses D (one nat per dimension: 3072 for RGB 32x32); there
   * is no default because it depends on the data.
   */
  margin: number;
}

/**
 * The margin variant of the outlier loss (spec 6.3, Hendrycks-style baseline): with the
 * in-distribution model's log-densities of inliers and outliers, paired by index over the first
 * n = min(#inliers, #outliers) examples,
 *
 *   L = mean_{i<n} ReLU(margin + NLL(x_i) - NLL(x_o,i)) = mean_{i<n} ReLU(margin - logPInliers_i + logPOutliers_i)
 *
 * (the D ln 256 constants of the NLLs cancel). Inliers act as a detached reference: they get a
 * zero gradient, as `.detach()` in the reference. dL/d logPOutliers_i = [argument > 0] / n for
 * i < n, 0 beyond. No lambda, no temperature, no general model.
 *
 * @example
 * const loss = marginLoss(model.logProb(inliers).logP, model.logProb(outliers).logP, { margin: 3072 });
 */
export function marginLoss(
  logPInliers: tf.Tensor1D,
  logPOutliers: tf.Tensor1D,
  options: MarginLossOptions,
): tf.Scalar {
  const margin = options?.margin;
  if (!(typeof margin === 'number' && Number.isFinite(margin) && margin >= 0)) {
    throw new InvalidOptionError(
      `margin must be a finite number >= 0 (nats; the reference uses D), got ${margin}.`,
    );
  }
  checkLogPVector(logPInliers, 'logPInliers');
  checkLogPVector(logPOutliers, 'logPOutliers');
  const n = Math.min(logPInliers.size, logPOutliers.size);
  const run = tf.customGrad(((inT: tf.Tensor, outT: tf.Tensor, save: tf.GradSaveFunc) => {
    save([inT, outT]);
    const hinge = (a: tf.Tensor, b: tf.Tensor) =>
      tf.add(tf.sub(tf.slice(b, 0, n), tf.slice(a, 0, n)), margin);
    return {
      value: tf.tidy(() => tf.mean(tf.relu(hinge(inT, outT)))),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedIn, savedOut] = saved as [tf.Tensor, tf.Tensor];
        const dOut = tf.tidy(() => {
          const active = tf.cast(tf.greater(hinge(savedIn, savedOut), 0), 'float32');
          const g = tf.mul(tf.div(active, n), dy as tf.Tensor);
          // Outliers past the first n are unpaired and get no gradient.
          return savedOut.size > n ? tf.concat([g, tf.zeros([savedOut.size - n])]) : g;
        });
        return [tf.zerosLike(savedIn), dOut];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return run(logPInliers, logPOutliers) as tf.Scalar;
}
