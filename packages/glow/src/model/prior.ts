import {
  ActNorm,
  constantLogDet,
  fusedOps,
  type NamedVariables,
  prefixVariables,
} from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { flattenNchw, unflattenNchw } from './flatten-nchw.js';
import { sizeOf } from './layout.js';

/** Output of {@link ScalePrior.standardize}: the standard-normal variables and the log-det. */
export interface StandardizeResult {
  /** u_k, NHWC, same shape as z_k; distributed N(0, I) under the model. */
  u: tf.Tensor4D;
  /** A_k: log|det ∂u/∂z| per example, nats, `[batch]`. */
  logDet: tf.Tensor1D;
}

/** Output of {@link ScalePrior.unstandardize}. */
export interface UnstandardizeResult {
  /** z_k, NHWC. */
  z: tf.Tensor4D;
  /** log|det ∂z/∂u| per example (= −A_k), nats, `[batch]`. */
  logDet: tf.Tensor1D;
}

/**
 * The prior of one scale as a bijection from the factored-out latents z_k to standard-normal
 * variables u_k, followed by a fixed N(0, I): `log p(z_k) = A_k + Z_k` with `A_k` the
 * bijection's log-det and `Z_k = log N(u_k; 0, I)` (spec 3.5, 3.7). Writing both prior kinds in
 * this form gives every model the same per-scale decomposition, encoder and sampler.
 */
export interface ScalePrior {
  /** `[H_k, W_k, C_k]` of z_k. */
  readonly shape: readonly number[];
  /**
   * @param z NHWC factored-out latents z_k
   * @param passedOn NHWC passed-on half h_{k+1} (null at the last scale); only the conditional
   *   prior reads it
   */
  standardize(z: tf.Tensor4D, passedOn: tf.Tensor4D | null): StandardizeResult;
  /** Inverse of {@link standardize}: z_k from u_k (and h_{k+1}), log-det `−A_k`. */
  unstandardize(u: tf.Tensor4D, passedOn: tf.Tensor4D | null): UnstandardizeResult;
  variables(): NamedVariables;
  dispose(): void;
}

/** eps of the per-scale prior ActNorm, `scale = exp(logs) + 1e-8` (spec 3.5). */
export const PRIOR_ACTNORM_EPS = 1e-8;

/**
 * Spec 3.5: a per-dimension ActNorm on z_k flattened in NCHW order (`c·H·W + h·W + w`, the
 * reference code's order, so `loc`/`logs` line up with a PyTorch checkpoint), eps 1e-8, then
 * N(0, I). Equivalent to an independent Gaussian per latent dimension with learned mean and std.
 * It is initialised from data (spec 3.6) like every ActNorm.
 *
 * Variables: `loc`, `logs`, both `[C_k·H_k·W_k]` in NCHW order.
 */
export class PerDimensionPrior implements ScalePrior {
  readonly shape: readonly number[];
  private readonly norm: ActNorm;

  constructor(shape: readonly number[]) {
    this.shape = [...shape];
    this.norm = new ActNorm({ shape: [sizeOf(shape)], eps: PRIOR_ACTNORM_EPS });
  }

  standardize(z: tf.Tensor4D): StandardizeResult {
    return tf.tidy(() => {
      const { y, logDet } = this.norm.forwardAndLogDet(flattenNchw(z));
      return { u: unflattenNchw(y, [y.shape[0]!, ...this.shape]), logDet };
    });
  }

  unstandardize(u: tf.Tensor4D): UnstandardizeResult {
    return tf.tidy(() => {
      const { x, logDet } = this.norm.inverseAndLogDet(flattenNchw(u));
      return { z: unflattenNchw(x, [x.shape[0]!, ...this.shape]), logDet };
    });
  }

  variables(): NamedVariables {
    return this.norm.variables();
  }

  dispose(): void {
    this.norm.dispose();
  }
}

/** Log-scale multiplier of the zero-initialised prior conv (original Glow's `Conv2dZeros`). */
const ZERO_CONV_LOGSCALE_FACTOR = 3;

/**
 * The original Glow's learned split prior (not the paper's; `prior: 'conditional'`):
 * z_k ~ N(μ, σ) per dimension with `[μ, log σ]` predicted from the passed-on half h_{k+1} by a
 * 3x3 convolution that starts at zero (weights and bias 0, output channel c multiplied by
 * `exp(3·logs_c)`, logs 0), so the prior starts as N(0, I). μ = even output channels,
 * log σ = odd ones (the coupling net's convention, spec 3.3c).
 * `u = (z − μ)·exp(−log σ)`, `A_k = −Σ log σ`.
 *
 * Variables: `conv.weight` `[3, 3, C_{h}, 2·C_k]` (TF layout `[kh, kw, in, out]`),
 * `conv.bias` `[2·C_k]`, `conv.logs` `[2·C_k]`.
 */
export class ConditionalPrior implements ScalePrior {
  readonly shape: readonly number[];
  private readonly weight: tf.Variable;
  private readonly bias: tf.Variable;
  private readonly logs: tf.Variable;

  /**
   * @param shape `[H, W, C]` of z_k
   * @param passedOnChannels channels of h_{k+1} (same H and W as z_k)
   */
  constructor(shape: readonly number[], passedOnChannels: number) {
    this.shape = [...shape];
    const out = 2 * shape[2]!;
    this.weight = tf.variable(tf.zeros([3, 3, passedOnChannels, out]), true);
    this.bias = tf.variable(tf.zeros([out]), true);
    this.logs = tf.variable(tf.zeros([out]), true);
  }

  standardize(z: tf.Tensor4D, passedOn: tf.Tensor4D | null): StandardizeResult {
    return tf.tidy(() => {
      const { mean, logScale } = this.meanAndLogScale(passedOn);
      const u = tf.mul(tf.sub(z, mean), tf.exp(tf.neg(logScale))) as tf.Tensor4D;
      return { u, logDet: tf.neg(sumPerExample(logScale)) as tf.Tensor1D };
    });
  }

  unstandardize(u: tf.Tensor4D, passedOn: tf.Tensor4D | null): UnstandardizeResult {
    return tf.tidy(() => {
      const { mean, logScale } = this.meanAndLogScale(passedOn);
      const z = tf.add(tf.mul(u, tf.exp(logScale)), mean) as tf.Tensor4D;
      return { z, logDet: sumPerExample(logScale) };
    });
  }

  variables(): NamedVariables {
    return prefixVariables('conv', { weight: this.weight, bias: this.bias, logs: this.logs });
  }

  dispose(): void {
    for (const v of [this.weight, this.bias, this.logs]) v.dispose();
  }

  private meanAndLogScale(passedOn: tf.Tensor4D | null): {
    mean: tf.Tensor4D;
    logScale: tf.Tensor4D;
  } {
    if (passedOn === null) {
      throw new Error(
        'ConditionalPrior needs the passed-on half h_{k+1}; this is a bug in the model graph',
      );
    }
    const [b, h, w, c] = [passedOn.shape[0], ...this.shape] as number[];
    const raw = tf.add(fusedOps().conv2d(passedOn, this.weight as tf.Tensor4D, 'same'), this.bias);
    const scaled = tf.mul(raw, tf.exp(tf.mul(this.logs, ZERO_CONV_LOGSCALE_FACTOR)));
    const pairs = tf.reshape(scaled, [b!, h!, w!, c!, 2]);
    const [mean, logScale] = tf.unstack(pairs, 4) as [tf.Tensor4D, tf.Tensor4D];
    return { mean, logScale };
  }
}

/**
 * The learned unconditional prior of the last scale when `prior: 'conditional'` (original Glow's
 * "learn top"): z ~ N(μ, σ) with per-dimension μ and log σ, both starting at 0 (so N(0, I)).
 * `u = (z − μ)·exp(−log σ)`, `A = −Σ log σ`.
 *
 * Variables: `mean`, `logs`, both `[H, W, C]` (NHWC order).
 */
export class LearnedTopPrior implements ScalePrior {
  readonly shape: readonly number[];
  private readonly mean: tf.Variable;
  private readonly logs: tf.Variable;

  constructor(shape: readonly number[]) {
    this.shape = [...shape];
    this.mean = tf.variable(tf.zeros([...shape]), true);
    this.logs = tf.variable(tf.zeros([...shape]), true);
  }

  standardize(z: tf.Tensor4D): StandardizeResult {
    return tf.tidy(() => {
      const u = tf.mul(tf.sub(z, this.mean), tf.exp(tf.neg(this.logs))) as tf.Tensor4D;
      return { u, logDet: constantLogDet(z.shape[0], tf.neg(tf.sum(this.logs)) as tf.Scalar) };
    });
  }

  unstandardize(u: tf.Tensor4D): UnstandardizeResult {
    return tf.tidy(() => ({
      z: tf.add(tf.mul(u, tf.exp(this.logs)), this.mean) as tf.Tensor4D,
      logDet: constantLogDet(u.shape[0], tf.sum(this.logs) as tf.Scalar),
    }));
  }

  variables(): NamedVariables {
    return { mean: this.mean, logs: this.logs };
  }

  dispose(): void {
    this.mean.dispose();
    this.logs.dispose();
  }
}

/** Sum over every axis but the batch axis: `[B, ...] → [B]`. */
function sumPerExample(v: tf.Tensor): tf.Tensor1D {
  return tf.sum(tf.reshape(v, [v.shape[0]!, -1]), 1) as tf.Tensor1D;
}
