import * as tf from '@tensorflow/tfjs-core';
import { EmptyInputError, InvalidOptionError, LengthMismatchError, ShapeError } from '../errors.js';
import { checkLogPVector, type OutlierLossOptions } from './outlier-loss.js';

/** Options of {@link wrongClassLoss}: λ (default 6000) and T (default 1000), as the outlier loss. */
export type WrongClassLossOptions = OutlierLossOptions;

/**
 * The wrong-class loss of the supervised variant (spec 6.4): every inlier, scored under each
 * class c it does not belong to, should look less likely than under the general model. With
 * Delta_bc = log p(x_b|c) − log p_gen(x_b) in nats,
 *
 *   L = (1 / (B·C)) Σ_b Σ_c λ · softplus(Delta_bc / T) · [c ≠ y_b]
 *
 * the mean over ALL B×C entries, the true-class entries counting as zeros (as the reference
 * averages). Gradient: dL/d logPPerClass_bc = λ·σ(Delta_bc/T)·[c ≠ y_b] / (T·B·C); `logPGen`
 * (the frozen general model's log p(x), computed outside the tape) gets a zero gradient.
 *
 * @param logPPerClass `[B, C]` log p(x|c) of the class-conditional model (nats)
 * @param logPGen `[B]` log p_gen(x) of the general model (nats)
 * @param labels `[B]` the true classes, integers in [0, C)
 * @example
 * const logPGen = tf.tidy(() => general.logProb(x).logP); // outside the gradient tape
 * const loss = wrongClassLoss(model.logProbPerClass(x), logPGen, labels);
 */
export function wrongClassLoss(
  logPPerClass: tf.Tensor2D,
  logPGen: tf.Tensor1D,
  labels: tf.Tensor1D | ArrayLike<number>,
  options: WrongClassLossOptions = {},
): tf.Scalar {
  const { weight = 6000, temperature = 1000 } = options;
  for (const [name, value] of [
    ['weight', weight],
    ['temperature', temperature],
  ] as const) {
    if (!(Number.isFinite(value) && value > 0)) {
      throw new InvalidOptionError(`${name} must be a positive finite number, got ${value}.`);
    }
  }
  if (logPPerClass.rank !== 2) {
    throw new ShapeError(
      `logPPerClass must be log p(x|c) per example and class [batch, classes], got shape [${logPPerClass.shape.join(', ')}].`,
    );
  }
  if (logPPerClass.dtype !== 'float32') {
    throw new ShapeError(`logPPerClass must be float32, got ${logPPerClass.dtype}.`);
  }
  const [batch, classes] = logPPerClass.shape;
  if (batch === 0 || classes === 0) throw new EmptyInputError('logPPerClass has no entries.');
  checkLogPVector(logPGen, 'logPGen');
  const labelValues = labels instanceof tf.Tensor ? labels.dataSync() : labels;
  if (logPGen.size !== batch || labelValues.length !== batch) {
    throw new LengthMismatchError(
      `logPPerClass has ${batch} examples, logPGen ${logPGen.size} and labels ${labelValues.length}; all must describe the same inlier batch.`,
    );
  }
  const wrong = new Float32Array(batch * classes).fill(1);
  for (let b = 0; b < batch; b++) {
    const y = Number(labelValues[b]);
    if (!(Number.isInteger(y) && y >= 0 && y < classes)) {
      throw new InvalidOptionError(
        `labels[${b}] is ${labelValues[b]}, not a class index in [0, ${classes}).`,
      );
    }
    wrong[b * classes + y] = 0;
  }
  const n = batch * classes;
  const run = tf.customGrad(((
    perClass: tf.Tensor,
    gen: tf.Tensor,
    mask: tf.Tensor,
    save: tf.GradSaveFunc,
  ) => {
    // save() keeps copies for the backward pass, so the caller's tensors and the mask below
    // may be freed as soon as the forward value exists.
    save([perClass, gen, mask]);
    const scaledDelta = (p: tf.Tensor, g: tf.Tensor) =>
      tf.div(tf.sub(p, tf.expandDims(g, 1)), temperature);
    return {
      value: tf.tidy(() =>
        tf.mul(tf.mean(tf.mul(tf.softplus(scaledDelta(perClass, gen)), mask)), weight),
      ),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedPerClass, savedGen, savedMask] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dPerClass = tf.tidy(() =>
          tf.mul(
            tf.mul(
              tf.mul(tf.sigmoid(scaledDelta(savedPerClass, savedGen)), savedMask),
              weight / (temperature * n),
            ),
            dy as tf.Tensor,
          ),
        );
        // The general model is frozen and the labels are data: neither gets a gradient.
        return [dPerClass, tf.zerosLike(savedGen), tf.zerosLike(savedMask)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  // [c ≠ y_b] as a float mask: 0 at the true class, 1 elsewhere.
  const mask = tf.tensor2d(wrong, [batch, classes]);
  try {
    return run(logPPerClass, logPGen, mask) as tf.Scalar;
  } finally {
    mask.dispose();
  }
}
