import { ConfigError, type NamedVariables, ownedVariable, ShapeError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { PRIOR_ACTNORM_EPS } from './prior.js';

const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);

/**
 * The class-conditional density of one scale's standardised latents (spec 6.4): for every class
 * c, a per-dimension ActNorm `v = (exp(a_c) + 1e-8) ⊙ (u + b_c)` followed by a diagonal
 * Gaussian N(μ_c, diag(exp(2·s_c))). Its log-density of u under class c is
 *
 *   H_c(u) = Σ_d [log(exp(a_cd) + 1e-8) − s_cd − ½ ((v_d − μ_cd) / exp(s_cd))² − ½ log 2π].
 *
 * u is the output of the scale's prior ActNorm (spec 3.5), flattened in NCHW order like that
 * ActNorm's parameters. Every parameter starts at 0, so the ActNorm starts as the identity (up to
 * the 1e-8) and each class as N(0, I): a converted unsupervised model keeps its density at first.
 * The ActNorm and the Gaussian are both affine, hence redundant; the reference has both, and so
 * does this head, so parameters map one to one. Data-dependent init never touches them (the
 * reference's `init_class_model=False`).
 *
 * Variables, all `[numClasses, D]` with row c for class c: `actnorm.loc` (b), `actnorm.logs` (a),
 * `gaussian.mean` (μ), `gaussian.logs` (s, the log-std).
 */
export class ClassConditionalHead {
  readonly numClasses: number;
  /** D: the number of latent dimensions of the scale. */
  readonly numDims: number;
  private readonly loc: tf.Variable;
  private readonly logs: tf.Variable;
  private readonly mean: tf.Variable;
  private readonly logStd: tf.Variable;

  constructor(numClasses: number, numDims: number) {
    if (!(Number.isInteger(numClasses) && numClasses >= 1)) {
      throw new ConfigError(
        `ClassConditionalHead: numClasses must be a positive integer, got ${numClasses}`,
      );
    }
    this.numClasses = numClasses;
    this.numDims = numDims;
    const zeros = () => ownedVariable(tf.zeros([numClasses, numDims]), true);
    this.loc = zeros();
    this.logs = zeros();
    this.mean = zeros();
    this.logStd = zeros();
  }

  /**
   * H_c(u) for every example and class, nats.
   *
   * @param u `[batch, D]`, the scale's standardised latents in NCHW order
   * @returns `[batch, numClasses]`
   */
  logProbPerClass(u: tf.Tensor2D): tf.Tensor2D {
    this.checkLatents(u);
    return tf.tidy(() => {
      const scale = tf.add(tf.exp(this.logs), PRIOR_ACTNORM_EPS);
      // [B, 1, D] against [C, D] broadcasts to [B, C, D]: one pass for all classes.
      const v = tf.mul(tf.add(tf.expandDims(u, 1), this.loc), scale);
      const r = tf.mul(tf.sub(v, this.mean), tf.exp(tf.neg(this.logStd)));
      const quadratic = tf.mul(tf.sum(tf.square(r), 2), -0.5);
      // Σ_d (log scale − log σ) depends on the class only: [C], broadcast over the batch.
      const logNorm = tf.sub(
        tf.sum(tf.sub(tf.log(scale), this.logStd), 1),
        this.numDims * HALF_LOG_TWO_PI,
      );
      return tf.add(quadratic, logNorm) as tf.Tensor2D;
    });
  }

  /**
   * Draws standardised latents u of the given classes: v ~ N(μ_c, (temperature·σ_c)²), then the
   * inverse ActNorm `u = v / (exp(a_c) + 1e-8) − b_c`.
   *
   * @param classes one class index per row
   * @returns `[classes.length, D]`, NCHW order
   */
  sample(classes: readonly number[], temperature: number, seed?: number): tf.Tensor2D {
    for (const c of classes) {
      if (!(Number.isInteger(c) && c >= 0 && c < this.numClasses)) {
        throw new ConfigError(
          `class ${c} does not exist: this model has classes 0..${this.numClasses - 1}`,
        );
      }
    }
    return tf.tidy(() => {
      const rows = tf.tensor1d(classes as number[], 'int32');
      const pick = (t: tf.Tensor) => tf.gather(t, rows);
      const eps = tf.randomNormal([classes.length, this.numDims], 0, temperature, 'float32', seed);
      const v = tf.add(pick(this.mean), tf.mul(eps, tf.exp(pick(this.logStd))));
      const scale = tf.add(tf.exp(pick(this.logs)), PRIOR_ACTNORM_EPS);
      return tf.sub(tf.div(v, scale), pick(this.loc)) as tf.Tensor2D;
    });
  }

  /** `actnorm.{loc,logs}` and `gaussian.{mean,logs}`, each `[numClasses, D]`. */
  variables(): NamedVariables {
    return {
      'actnorm.loc': this.loc,
      'actnorm.logs': this.logs,
      'gaussian.mean': this.mean,
      'gaussian.logs': this.logStd,
    };
  }

  dispose(): void {
    for (const v of [this.loc, this.logs, this.mean, this.logStd]) v.dispose();
  }

  private checkLatents(u: tf.Tensor): void {
    if (u.rank !== 2 || u.shape[1] !== this.numDims) {
      throw new ShapeError(
        `ClassConditionalHead expects latents [batch, ${this.numDims}], got [${u.shape.join(', ')}]`,
      );
    }
  }
}
