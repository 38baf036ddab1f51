import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import {
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
import { invert, logAbsDet, luDecompose, matMulSquare, qrOrthogonal } from '../linalg.js';
import { fusedOps } from '../ops/op-registry.js';
import type { ChannelAffine, ChannelAffineForm } from './channel-affine.js';

/** Options of {@link InvConv1x1}. */
export interface InvConv1x1Options {
  /** C: the size of the last axis (channels of NHWC images, features of `[B, D]` vectors). */
  channels: number;
  /** Seed of the random orthogonal initialisation; the same seed gives the same layer. */
  seed: number;
  /**
   * `true` (default): LU-parametrised, trainable (spec 3.3b). `false`: a fixed random orthogonal
   * matrix, not trained (spec 7.2 `invconvfixed`).
   */
  lu?: boolean;
}

/**
 * Invertible 1x1 convolution: at every position (pixel of a `[B, H, W, C]` NHWC image, or the
 * single position of a `[B, C]` vector) `y[o] = Σ_i W[o, i] · x[i]`.
 *
 * With `lu: true` (spec 3.3b) `W = P · (L ⊙ M_lower + I) · (U ⊙ M_upper + diag(sign_s · exp(logS)))`,
 * initialised from the orthogonal factor of a seeded Gaussian matrix, so the log-det
 * `H·W·Σ logS` starts at 0. Variables: `lower`, `upper`, `logS` (trainable), `p`, `signS`
 * (fixed buffers).
 *
 * With `lu: false` (spec 7.2) W is a fixed random orthogonal matrix, variable `weight`
 * (not trainable); its log-det `H·W·log|det W|` (≈ 0) is computed in float64.
 *
 * The inverse applies W⁻¹, computed in float64 plain JS from the current variable values. It is
 * a constant for autodiff: gradients flow through the forward pass only.
 *
 * @example
 * const conv = new InvConv1x1({ channels: 12, seed: 1 });
 * const { y, logDet } = conv.forwardAndLogDet(x); // x: [B, H, W, 12]
 */
export class InvConv1x1 extends Bijector implements ChannelAffineForm {
  readonly type = 'InvConv1x1';
  readonly channels: number;
  readonly seed: number;
  readonly lu: boolean;
  private readonly vars: NamedVariables;
  /** Constant tensors of the LU form: strict masks and the identity. Disposed with the layer. */
  private readonly constants: {
    lowerMask: tf.Tensor2D;
    upperMask: tf.Tensor2D;
    eye: tf.Tensor2D;
  } | null;
  /** Float64-derived quantities, valid while the variables hold the same data (see below). */
  private derived: { dataIds: object[]; inverseT: Float32Array; logAbsDet: number } | null = null;

  constructor(options: InvConv1x1Options) {
    super();
    const { channels, seed, lu = true } = options;
    if (!Number.isInteger(channels) || channels < 1) {
      throw new ConfigError(`InvConv1x1: 'channels' must be a positive integer, got ${channels}`);
    }
    if (!Number.isInteger(seed)) {
      throw new ConfigError(`InvConv1x1: 'seed' must be an integer, got ${seed}`);
    }
    if (typeof lu !== 'boolean') {
      throw new ConfigError(`InvConv1x1: 'lu' must be true or false, got ${JSON.stringify(lu)}`);
    }
    this.channels = channels;
    this.seed = seed;
    this.lu = lu;

    const c = channels;
    const rng = createRng(seed);
    const gaussian = Float64Array.from({ length: c * c }, () => rng.normal());
    const q = qrOrthogonal(gaussian, c);
    if (!lu) {
      this.vars = { weight: ownedVariable(tf.tensor2d(Float32Array.from(q), [c, c]), false) };
      this.constants = null;
      return;
    }
    // luDecompose gives Pr·Q = L·U with row i of Pr·Q = row perm[i] of Q, so Q = P·L·U with
    // P = Prᵀ, i.e. P[perm[i], i] = 1.
    const { lu: factors, perm } = luDecompose(q, c);
    const p = new Float32Array(c * c);
    const lower = new Float32Array(c * c);
    const upper = new Float32Array(c * c);
    const logS = new Float32Array(c);
    const signS = new Float32Array(c);
    for (let i = 0; i < c; i++) {
      p[perm[i]! * c + i] = 1;
      for (let j = 0; j < c; j++) {
        const v = factors[i * c + j]!;
        if (j < i) lower[i * c + j] = v;
        else if (j > i) upper[i * c + j] = v;
        else {
          logS[i] = Math.log(Math.abs(v));
          signS[i] = Math.sign(v);
        }
      }
    }
    this.vars = {
      p: ownedVariable(tf.tensor2d(p, [c, c]), false),
      signS: ownedVariable(tf.tensor1d(signS), false),
      lower: ownedVariable(tf.tensor2d(lower, [c, c]), true),
      upper: ownedVariable(tf.tensor2d(upper, [c, c]), true),
      logS: ownedVariable(tf.tensor1d(logS), true),
    };
    const lowerMask = new Float32Array(c * c);
    const upperMask = new Float32Array(c * c);
    for (let i = 0; i < c; i++) {
      for (let j = 0; j < c; j++) {
        if (j < i) lowerMask[i * c + j] = 1;
        if (j > i) upperMask[i * c + j] = 1;
      }
    }
    // Kept so a constructor called inside someone's tf.tidy does not lose them.
    this.constants = {
      lowerMask: tf.keep(tf.tensor2d(lowerMask, [c, c])),
      upperMask: tf.keep(tf.tensor2d(upperMask, [c, c])),
      eye: tf.keep(tf.eye(c) as tf.Tensor2D),
    };
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    this.checkShape(x.shape);
    const logDet = this.forwardLogDetFor(x.shape);
    return tf.tidy(() => {
      const weightT = tf.transpose(this.weight()) as tf.Tensor2D;
      return { y: this.applyPerPosition(x, weightT), logDet };
    });
  }

  /** `y = x @ Wᵀ` per position: matrix `Wᵀ`, no bias. */
  channelAffine(shape: readonly number[]): ChannelAffine {
    this.checkShape(shape);
    const logDet = this.forwardLogDetFor(shape);
    return {
      matrix: tf.tidy(() => tf.transpose(this.weight()) as tf.Tensor2D),
      bias: null,
      logDet,
    };
  }

  /** The forward log-det per example: `positions · log|det W|` (LU: `positions · Σ logS`). */
  private forwardLogDetFor(shape: readonly number[]): tf.Tensor1D {
    const pixels = positions(shape);
    if (this.lu) {
      return tf.tidy(() =>
        constantLogDet(shape[0]!, tf.mul(tf.sum(this.vars.logS!), pixels) as tf.Scalar),
      );
    }
    // Fixed variant: the float64 log-det, read outside any tidy (it may read variable data).
    return constantLogDet(shape[0]!, pixels * this.float64Derived().logAbsDet);
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    this.checkShape(y.shape);
    const { inverseT, logAbsDet: fixedLogAbsDet } = this.float64Derived();
    return tf.tidy(() => {
      const c = this.channels;
      const x = this.applyPerPosition(y, tf.tensor2d(inverseT, [c, c]));
      const pixels = positions(y.shape);
      const logDet = this.lu
        ? constantLogDet(y.shape[0]!, tf.mul(tf.sum(this.vars.logS!), -pixels) as tf.Scalar)
        : constantLogDet(y.shape[0]!, -pixels * fixedLogAbsDet);
      return { x, logDet };
    });
  }

  /** The current weight W (`[C, C]`, `W[o, i]`), differentiable in the LU variables. */
  weight(): tf.Tensor2D {
    if (!this.lu) return tf.clone(this.vars.weight!) as tf.Tensor2D;
    const { p, signS, lower, upper, logS } = this.vars as Record<string, tf.Variable>;
    // One op where the fused op set has one (backend-wasm: a float64 kernel); else taped ops.
    const fast = fusedOps().luWeight(
      p as tf.Tensor2D,
      lower as tf.Tensor2D,
      upper as tf.Tensor2D,
      logS as tf.Tensor1D,
      signS as tf.Tensor1D,
    );
    if (fast) return fast;
    return tf.tidy(() => {
      const { lowerMask, upperMask, eye } = this.constants!;
      const l = tf.add(tf.mul(lower!, lowerMask), eye) as tf.Tensor2D;
      // diag(v) as eye ⊙ row vector: tf.diag has no gradient.
      const diag = tf.mul(eye, tf.reshape(tf.mul(signS!, tf.exp(logS!)), [1, this.channels]));
      const u = tf.add(tf.mul(upper!, upperMask), diag) as tf.Tensor2D;
      const { matMul } = fusedOps();
      return matMul(matMul(p as tf.Tensor2D, l), u);
    });
  }

  override variables(): NamedVariables {
    return { ...this.vars };
  }

  getConfig(): BijectorConfig {
    return { type: this.type, channels: this.channels, seed: this.seed, lu: this.lu };
  }

  override dispose(): void {
    super.dispose();
    if (this.constants) for (const t of Object.values(this.constants)) t.dispose();
    this.derived = null;
  }

  /** `v @ mT` over the last axis, with every leading position flattened into rows. */
  private applyPerPosition(v: tf.Tensor, mT: tf.Tensor2D): tf.Tensor {
    const rows = tf.reshape(v, [-1, this.channels]) as tf.Tensor2D;
    return tf.reshape(fusedOps().matMul(rows, mT), v.shape);
  }

  /**
   * W⁻¹ᵀ and log|det W| in float64, recomputed whenever a variable's data changes. A variable's
   * `assign` (optimisers, checkpoint loading) gives it a new data id, so comparing ids is an
   * exact invalidation test that never reads stale weights.
   */
  private float64Derived(): { inverseT: Float32Array; logAbsDet: number } {
    const vars = Object.values(this.vars);
    const dataIds = vars.map((v) => v.dataId as object);
    if (this.derived?.dataIds.every((id, i) => id === dataIds[i])) return this.derived;
    const c = this.channels;
    const w = this.float64Weight();
    let inverse: Float64Array;
    try {
      inverse = invert(w, c);
    } catch (cause) {
      throw new ConfigError(
        'InvConv1x1: the weight matrix is singular, so the layer cannot be inverted ' +
          '(a logS went to -Infinity or the loaded weights are invalid)',
        { cause },
      );
    }
    const inverseT = new Float32Array(c * c);
    for (let i = 0; i < c; i++)
      for (let j = 0; j < c; j++) inverseT[j * c + i] = inverse[i * c + j]!;
    this.derived = { dataIds, inverseT, logAbsDet: logAbsDet(w, c) };
    return this.derived;
  }

  /** W in float64 from the variables' current values. */
  private float64Weight(): Float64Array {
    const c = this.channels;
    if (!this.lu) return Float64Array.from(this.vars.weight!.dataSync());
    const read = (name: string) => this.vars[name]!.dataSync();
    const p = read('p');
    const lower = read('lower');
    const upper = read('upper');
    const logS = read('logS');
    const signS = read('signS');
    const l = new Float64Array(c * c);
    const u = new Float64Array(c * c);
    for (let i = 0; i < c; i++) {
      for (let j = 0; j < c; j++) {
        if (j < i) l[i * c + j] = lower[i * c + j]!;
        else if (j > i) u[i * c + j] = upper[i * c + j]!;
        else {
          l[i * c + j] = 1;
          u[i * c + j] = signS[i]! * Math.exp(logS[i]!);
        }
      }
    }
    return matMulSquare(matMulSquare(Float64Array.from(p), l, c), u, c);
  }

  protected override checkShape(shape: readonly number[]): void {
    if ((shape.length !== 2 && shape.length !== 4) || shape[shape.length - 1] !== this.channels) {
      throw new ShapeError(
        `InvConv1x1 with ${this.channels} channels expects an NHWC input [batch, height, width, ${this.channels}] ` +
          `or a vector input [batch, ${this.channels}], got [${shape}]`,
      );
    }
  }
}

/** Number of positions sharing the weight: everything but the batch and channel axes. */
function positions(shape: readonly number[]): number {
  return shape.slice(1, -1).reduce((a, b) => a * b, 1);
}

registerBijector('InvConv1x1', (config) => {
  const { channels, seed, lu } = config as unknown as InvConv1x1Options;
  return new InvConv1x1({ channels, seed, ...(lu === undefined ? {} : { lu }) });
});
