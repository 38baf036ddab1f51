import * as tf from '@tensorflow/tfjs-core';
import { EmptyInputError, InvalidOptionError, LengthMismatchError, ShapeError } from '../errors.js';

/** Options of {@link outlierLoss}. Defaults are the paper's CIFAR-10 setting (spec 6.3). */
export interface OutlierLossOptions {
  /** lambda, the loss weight. Default 6000. */
  weight?: number;
  /** T, the temperature dividing the log-likelihood ratio. Default 1000. */
  temperature?: number;
}

export function checkLogPVector(t: tf.Tensor, name: string): void {
  if (t.rank !== 1) {
    throw new ShapeError(
      `${name} must be one log-likelihood per example (rank 1), got shape [${t.shape.join(', ')}].`,
    );
  }
  if (t.size === 0) throw new EmptyInputError(`${name} has no examples.`);
  if (t.dtype !== 'float32') throw new ShapeError(`${name} must be float32, got ${t.dtype}.`);
}

function checkPositiveFinite(value: number, name: string): void {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new InvalidOptionError(`${name} must be a positive finite number, got ${value}.`);
  }
}

/**
 * The paper's outlier loss on a batch of outliers (spec 6.3): binary cross-entropy with target
 * "general" on the logit Delta / T, with Delta = log p_in(x_o) - log p_gen(x_o) in nats:
 *
 *   L = lambda * mean_o softplus((logPIn_o - logPGen_o) / T)
 *
 * Gradient: dL/d logPIn_o = (lambda / T) * sigmoid(Delta_o / T) / n, i.e. 6 * sigmoid(.) / n
 * with the defaults. `logPGen` is the frozen general model's output: it receives a zero
 * gradient (tfjs has no stopGradient; the custom gradient provides that semantics), so the general
 * model is never updated through this loss even if its forward pass was taped. Still, computing
 * it outside `tf.grad`/`variableGrads` saves memory.
 *
 * @example
 * const logPGen = tf.tidy(() => generalModel.logProb(outliers).logP); // outside the tape
 * const { value, grads } = tf.variableGrads(() =>
 *   tf.add(inlierNll(inModel, inliers), outlierLoss(inModel.logProb(outliers).logP, logPGen)));
 */
export function outlierLoss(
  logPIn: tf.Tensor1D,
  logPGen: tf.Tensor1D,
  options: OutlierLossOptions = {},
): tf.Scalar {
  const { weight = 6000, temperature = 1000 } = options;
  checkPositiveFinite(weight, 'weight');
  checkPositiveFinite(temperature, 'temperature');
  checkLogPVector(logPIn, 'logPIn');
  checkLogPVector(logPGen, 'logPGen');
  if (logPIn.size !== logPGen.size) {
    throw new LengthMismatchError(
      `logPIn has ${logPIn.size} examples but logPGen has ${logPGen.size}; both must score the same outlier batch.`,
    );
  }
  const n = logPIn.size;
  const run = tf.customGrad(((inT: tf.Tensor, genT: tf.Tensor, save: tf.GradSaveFunc) => {
    save([inT, genT]);
    return {
      value: tf.tidy(() =>
        tf.mul(tf.mean(tf.softplus(tf.div(tf.sub(inT, genT), temperature))), weight),
      ),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [savedIn, savedGen] = saved as [tf.Tensor, tf.Tensor];
        const dLogPIn = tf.tidy(() =>
          tf.mul(
            tf.mul(
              tf.sigmoid(tf.div(tf.sub(savedIn, savedGen), temperature)),
              weight / (temperature * n),
            ),
            dy as tf.Tensor,
          ),
        );
        return [dLogPIn, tf.zerosLike(savedGen)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return run(logPIn, logPGen) as tf.Scalar;
}
