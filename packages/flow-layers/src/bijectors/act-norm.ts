import * as tf from '@tensorflow/tfjs-core';
import {
  activeDataInitPass,
  Bijector,
  type BijectorConfig,
  constantLogDet,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
  ownedVariable,
  registerBijector,
} from '../bijector.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { ChannelAffine, ChannelAffineForm } from './channel-affine.js';

/** Options of {@link ActNorm}. */
export interface ActNormOptions {
  /**
   * Parameter shape: the trailing axes of the input that get their own `loc`/`logs`.
   * `[C]` is per channel (NHWC images, any rank >= 2 with C last); `[D]` on a `[B, D]` input is
   * per dimension. Every other non-batch axis shares the parameters.
   */
  shape: number[];
  /**
   * Added to the scale: `scale = exp(logs) + eps`. 0 by default (the flow steps, spec 3.3a);
   * the per-scale prior ActNorm uses 1e-8 (spec 3.5).
   */
  eps?: number;
}

/** Lower bound on the std in data-dependent initialisation (spec 3.6). */
const MIN_INIT_STD = 1e-6;

/**
 * Activation normalisation (spec 3.3a, 3.5): `y = (exp(logs) + eps) ⊙ (x + loc)`, with loc added
 * BEFORE scaling. Log-det per example: (number of positions sharing a parameter) ·
 * Σ log(exp(logs) + eps), e.g. `H·W·Σ_c logs_c` for a per-channel ActNorm on NHWC.
 *
 * Starts as the identity (loc 0, logs 0). Inside {@link withDataInit} it initialises itself
 * once per pass from the data it receives: `loc = −mean`, `logs = log(1 / max(std, 1e-6))`,
 * with the unbiased (Bessel) std over every axis but the parameter axes, then applies the new
 * parameters at once (spec 3.6).
 *
 * Variables: `loc`, `logs` (both trainable).
 *
 * @example
 * const norm = new ActNorm({ shape: [4] });            // per channel of [B, H, W, 4]
 * withDataInit(() => norm.forward(batch).dispose());   // data-dependent init
 * const { y, logDet } = norm.forwardAndLogDet(x);
 */
export class ActNorm extends Bijector implements ChannelAffineForm {
  readonly type = 'ActNorm';
  readonly shape: readonly number[];
  readonly eps: number;
  readonly loc: tf.Variable;
  readonly logs: tf.Variable;
  /** Id of the data-init pass this layer last initialised in; null if never. */
  private initPass: number | null = null;

  constructor(options: ActNormOptions) {
    super();
    const { shape, eps = 0 } = options;
    if (
      !Array.isArray(shape) ||
      shape.length === 0 ||
      !shape.every((d) => Number.isInteger(d) && d > 0)
    ) {
      throw new ConfigError(
        `ActNorm: 'shape' must be a non-empty list of positive integers (e.g. [channels]), got ${JSON.stringify(shape)}`,
      );
    }
    if (!(Number.isFinite(eps) && eps >= 0)) {
      throw new ConfigError(`ActNorm: 'eps' must be a finite number >= 0, got ${eps}`);
    }
    this.shape = [...shape];
    this.eps = eps;
    this.loc = ownedVariable(tf.zeros([...this.shape]), true);
    this.logs = ownedVariable(tf.zeros([...this.shape]), true);
  }

  /** True once this layer has set its parameters from data in some {@link withDataInit} pass. */
  get dataInitialised(): boolean {
    return this.initPass !== null;
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    this.checkShape(x.shape);
    this.maybeInitFromData(x);
    return tf.tidy(() => {
      const y = tf.mul(tf.add(x, this.loc), this.scale());
      return { y, logDet: this.logDetFor(x.shape) };
    });
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    this.checkShape(y.shape);
    return tf.tidy(() => {
      const x = tf.sub(tf.div(y, this.scale()), this.loc);
      return { x, logDet: tf.neg(this.logDetFor(y.shape)) as tf.Tensor1D };
    });
  }

  /** Per-channel ActNorm: `y = x ⊙ s + loc ⊙ s`, i.e. `diag(s)` and bias `loc ⊙ s`. */
  channelAffine(shape: readonly number[]): ChannelAffine | null {
    if (this.shape.length !== 1 || activeDataInitPass() !== null) return null;
    this.checkShape(shape);
    return tf.tidy(() => {
      const s = this.scale() as tf.Tensor1D;
      return { matrix: s, bias: tf.mul(this.loc, s) as tf.Tensor1D, logDet: this.logDetFor(shape) };
    });
  }

  override variables(): NamedVariables {
    return { loc: this.loc, logs: this.logs };
  }

  getConfig(): BijectorConfig {
    return { type: this.type, shape: [...this.shape], eps: this.eps };
  }

  private scale(): tf.Tensor {
    const s = tf.exp(this.logs);
    return this.eps === 0 ? s : tf.add(s, this.eps);
  }

  /** Positions sharing one parameter times Σ log scale, broadcast to [batch]. */
  private logDetFor(shape: readonly number[]): tf.Tensor1D {
    const shared = shape.slice(1, shape.length - this.shape.length).reduce((a, b) => a * b, 1);
    // With eps = 0, log(exp(logs)) is logs: use it directly so the log-det is exact.
    const logScale = this.eps === 0 ? this.logs : tf.log(this.scale());
    return constantLogDet(shape[0]!, tf.mul(tf.sum(logScale), shared) as tf.Scalar);
  }

  protected override checkShape(shape: readonly number[]): void {
    const p = this.shape.length;
    const trailing = shape.slice(shape.length - p);
    if (shape.length < p + 1 || !tf.util.arraysEqual(trailing, this.shape as number[])) {
      throw new ShapeError(
        `ActNorm with parameter shape [${this.shape}] expects an input [batch, ..., ${this.shape.join(', ')}] ` +
          `(parameters over the trailing axes), got [${shape}]`,
      );
    }
  }

  private maybeInitFromData(x: tf.Tensor): void {
    const pass = activeDataInitPass();
    if (pass === null || pass === this.initPass) return;
    const axes = Array.from({ length: x.rank - this.shape.length }, (_, i) => i);
    const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
    if (count < 2) {
      throw new ConfigError(
        `ActNorm data-dependent init needs at least 2 values per parameter to estimate an ` +
          `unbiased std, got input [${x.shape}]; use a larger initialisation batch`,
      );
    }
    tf.tidy(() => {
      const mean = tf.mean(x, axes);
      const sqDev = tf.sum(tf.square(tf.sub(x, mean)), axes);
      const std = tf.sqrt(tf.div(sqDev, count - 1));
      this.loc.assign(tf.neg(mean));
      this.logs.assign(tf.neg(tf.log(tf.maximum(std, MIN_INIT_STD))));
    });
    this.initPass = pass;
  }
}

/**
 * Whether `bijector` is an {@link ActNorm} that has set itself from data (see
 * {@link withDataInit}). False for any other bijector.
 */
export function isDataInitialised(bijector: Bijector): boolean {
  return bijector instanceof ActNorm && bijector.dataInitialised;
}

registerBijector('ActNorm', (config) => new ActNorm(config as unknown as ActNormOptions));
