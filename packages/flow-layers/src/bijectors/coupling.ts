import * as tf from '@tensorflow/tfjs-core';
import {
  Bijector,
  type BijectorConfig,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
  prefixVariables,
  registerBijector,
} from '../bijector.js';
import {
  type CouplingNet,
  type CouplingNetConfig,
  couplingNetFromConfig,
} from '../coupling-net.js';
import { ConfigError, ShapeError } from '../errors.js';
import { fusedOps } from '../ops/op-registry.js';
import { SCALE_OFFSET, sumLogSigmoid } from '../ops/plain-ops.js';
import {
  type ReversibleBackwardForm,
  type ReversibleStepResult,
  vjpFromOutput,
} from './reversible-step.js';

/** Options of {@link AffineCoupling} and {@link AdditiveCoupling}. */
export interface CouplingOptions {
  /** C: size of the last axis (even). The first C/2 condition the last C/2. */
  channels: number;
  /**
   * The network from the first half to the coefficients: C/2 → C channels for the affine
   * coupling, C/2 → C/2 for the additive one. The coupling owns it (disposes it with itself).
   */
  net: CouplingNet;
}

/**
 * Shared structure of the couplings: split the last axis into halves, run the net on the first
 * (passed through unchanged), transform the second. Works for NHWC `[B, H, W, C]` and `[B, C]`.
 */
abstract class Coupling extends Bijector implements ReversibleBackwardForm {
  readonly channels: number;
  readonly net: CouplingNet;

  constructor(who: string, options: CouplingOptions, netOutChannels: (half: number) => number) {
    super();
    const { channels, net } = options;
    if (!Number.isInteger(channels) || channels < 2 || channels % 2 !== 0) {
      throw new ConfigError(`${who}: 'channels' must be an even integer >= 2, got ${channels}`);
    }
    const half = channels / 2;
    if (!net || typeof net.apply !== 'function') {
      throw new ConfigError(`${who}: 'net' must be a CouplingNet (e.g. a ConvCouplingNet)`);
    }
    const out = netOutChannels(half);
    if (net.inChannels !== half || net.outChannels !== out) {
      throw new ConfigError(
        `${who} on ${channels} channels needs a net from ${half} to ${out} channels, ` +
          `got ${net.type} from ${net.inChannels} to ${net.outChannels}`,
      );
    }
    this.channels = channels;
    this.net = net;
  }

  override variables(): NamedVariables {
    return prefixVariables('net', this.net.variables());
  }

  getConfig(): BijectorConfig {
    return { type: this.type, channels: this.channels, net: this.net.getConfig() };
  }

  override dispose(): void {
    this.net.dispose();
  }

  /** [first half, second half] of the last axis. */
  protected halves(v: tf.Tensor): [tf.Tensor, tf.Tensor] {
    return fusedOps().splitChannelHalves(v);
  }

  /** The net's output on the conditioning half, checked against the expected shape. */
  protected coefficients(xa: tf.Tensor): tf.Tensor {
    const h = this.net.apply(xa);
    const expected = [...xa.shape.slice(0, -1), this.net.outChannels];
    if (!tf.util.arraysEqual(h.shape, expected)) {
      throw new ShapeError(
        `${this.type}: its net (${this.net.type}) returned shape [${h.shape}] for input [${xa.shape}], expected [${expected}]`,
      );
    }
    return h;
  }

  /**
   * Reversible backprop's step (`backwardSequence`) from the output: x_a = y_a, so the net runs
   * once, on y_a under a gradient tape, and its output serves both the inverse of the other half
   * and, through `transformedHalfBackward`, the cotangent that starts the net's backward pass.
   * The generic step would run the net on the same half twice (inverse, then taped forward).
   */
  reversibleBackward(
    y: tf.Tensor,
    dy: tf.Tensor,
    dLogDet: tf.Tensor1D,
    inputGradient: boolean,
  ): ReversibleStepResult {
    this.checkShape(y.shape);
    const variables = Object.values(this.net.variables()).filter((v) => v.trainable);
    const ops = fusedOps();
    const [ya, yb] = this.halves(y);
    const [dya, dyb] = this.halves(dy);
    const sources: tf.Tensor[] = inputGradient ? [ya, ...variables] : variables;
    const { grads, extras } = vjpFromOutput(
      () => this.coefficients(ya),
      sources,
      (h) => {
        const { xb, dxb, dh } = this.transformedHalfBackward(yb, h, dyb, dLogDet);
        return { cotangent: dh, extras: [xb, dxb] as [tf.Tensor, tf.Tensor] };
      },
    );
    const [xb, dxb] = extras;
    const x = ops.concatChannelHalves(ya, xb);
    let dx: tf.Tensor | null = null;
    if (inputGradient) {
      const fromNet = grads[0];
      dx = tf.tidy(() => ops.concatChannelHalves(fromNet ? tf.add(dya, fromNet) : dya, dxb));
    }
    const offset = inputGradient ? 1 : 0;
    const result: ReversibleStepResult = { x, dx, grads: [] };
    variables.forEach((variable, i) => {
      const grad = grads[i + offset];
      if (grad) result.grads.push({ variable, grad });
    });
    tf.dispose([ya, yb, dya, dyb, xb, dxb, inputGradient ? (grads[0] ?? []) : []]);
    return result;
  }

  /**
   * From the transformed output half y_b, the net's output h on the other half and the upstream
   * gradients: the input half x_b, ∂/∂x_b, and ∂/∂h (the cotangent of the net). Runs outside
   * any tape; every returned tensor is new.
   */
  protected abstract transformedHalfBackward(
    yb: tf.Tensor,
    h: tf.Tensor,
    dyb: tf.Tensor,
    dLogDet: tf.Tensor1D,
  ): { xb: tf.Tensor; dxb: tf.Tensor; dh: tf.Tensor };

  protected override checkShape(shape: readonly number[]): void {
    if ((shape.length !== 2 && shape.length !== 4) || shape[shape.length - 1] !== this.channels) {
      throw new ShapeError(
        `${this.type} with ${this.channels} channels expects an NHWC input [batch, height, width, ${this.channels}] ` +
          `or a vector input [batch, ${this.channels}], got [${shape}]`,
      );
    }
  }
}

/**
 * Affine coupling, the spec's variant (3.3c): `x_a` = first half (passed through), `x_b` =
 * second half; `h = net(x_a)` with C channels; shift `t = h[..., 0::2]`, raw scale
 * `r = h[..., 1::2]`; `s = sigmoid(r + 2)`; `y_b = (x_b + t) · s` (add first, then scale);
 * `y = concat(x_a, y_b)`. Log-det per example `Σ log s` (computed as −softplus(−(r + 2)) for stability).
 * Inverse `x_b = y_b / s − t`.
 *
 * With a net whose last layer starts at zero (ConvCouplingNet) the log-det at initialisation is
 * `(C/2)·H·W·log σ(2)`, e.g. −194.96 for C = 12 on 16x16.
 *
 * Variables: the net's, prefixed `net.`.
 *
 * @example
 * const net = new ConvCouplingNet({ inChannels: 2, outChannels: 4, hidden: 128, seed: 1 });
 * const coupling = new AffineCoupling({ channels: 4, net });
 * const { y, logDet } = coupling.forwardAndLogDet(x); // x: [B, H, W, 4]
 */
export class AffineCoupling extends Coupling {
  readonly type = 'AffineCoupling';

  constructor(options: CouplingOptions) {
    super('AffineCoupling', options, (half) => 2 * half);
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    this.checkShape(x.shape);
    return tf.tidy(() => {
      const [xa, xb] = this.halves(x);
      const ops = fusedOps();
      const { yb, logDet } = ops.affineCoupling(xb, this.coefficients(xa));
      return { y: ops.concatChannelHalves(xa, yb), logDet };
    });
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    this.checkShape(y.shape);
    return tf.tidy(() => {
      const [ya, yb] = this.halves(y);
      const { shift, preScale } = this.shiftAndScale(ya);
      const xb = tf.sub(tf.div(yb, tf.sigmoid(preScale)), shift);
      return {
        x: fusedOps().concatChannelHalves(ya, xb),
        logDet: tf.neg(sumLogSigmoid(preScale)) as tf.Tensor1D,
      };
    });
  }

  protected transformedHalfBackward(
    yb: tf.Tensor,
    h: tf.Tensor,
    dyb: tf.Tensor,
    dLogDet: tf.Tensor1D,
  ): { xb: tf.Tensor; dxb: tf.Tensor; dh: tf.Tensor } {
    return fusedOps().affineCouplingInverseGrad(yb, h, dyb, dLogDet);
  }

  /**
   * Even output channels are the shift, odd ones the raw scale (EverySecondChan), taken apart
   * without `gather` (no gradient on wasm). The forward pass computes the same in one op,
   * `FusedOps.affineCoupling`.
   */
  private shiftAndScale(xa: tf.Tensor): { shift: tf.Tensor; preScale: tf.Tensor } {
    const [shift, raw] = fusedOps().deinterleaveChannels(this.coefficients(xa));
    return { shift, preScale: tf.add(raw, SCALE_OFFSET) };
  }
}

/**
 * Additive coupling (spec 3.3c, `flow_coupling='additive'`): `y_b = x_b + net(x_a)`, the net
 * giving C/2 shift channels; log-det 0.
 *
 * Variables: the net's, prefixed `net.`.
 *
 * @example
 * const net = new DenseCouplingNet({ inFeatures: 8, outFeatures: 8, seed: 1 });
 * const coupling = new AdditiveCoupling({ channels: 16, net });
 */
export class AdditiveCoupling extends Coupling {
  readonly type = 'AdditiveCoupling';

  constructor(options: CouplingOptions) {
    super('AdditiveCoupling', options, (half) => half);
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    this.checkShape(x.shape);
    return tf.tidy(() => {
      const [xa, xb] = this.halves(x);
      const yb = tf.add(xb, this.coefficients(xa));
      return {
        y: fusedOps().concatChannelHalves(xa, yb),
        logDet: tf.zeros([x.shape[0]!]) as tf.Tensor1D,
      };
    });
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    this.checkShape(y.shape);
    return tf.tidy(() => {
      const [ya, yb] = this.halves(y);
      const xb = tf.sub(yb, this.coefficients(ya));
      return {
        x: fusedOps().concatChannelHalves(ya, xb),
        logDet: tf.zeros([y.shape[0]!]) as tf.Tensor1D,
      };
    });
  }

  /** y_b = x_b + h with log-det 0: ∂/∂x_b and ∂/∂h are both dy_b. */
  protected transformedHalfBackward(
    yb: tf.Tensor,
    h: tf.Tensor,
    dyb: tf.Tensor,
  ): { xb: tf.Tensor; dxb: tf.Tensor; dh: tf.Tensor } {
    return { xb: tf.sub(yb, h), dxb: tf.clone(dyb), dh: tf.clone(dyb) };
  }
}

function netFromConfig(who: string, config: BijectorConfig): CouplingNet {
  const net = config.net as CouplingNetConfig | undefined;
  if (!net || typeof net !== 'object' || typeof net.type !== 'string') {
    throw new ConfigError(`${who} config needs 'net': a coupling-network config with a 'type'`);
  }
  return couplingNetFromConfig(net);
}

registerBijector(
  'AffineCoupling',
  (config) =>
    new AffineCoupling({
      channels: config.channels as number,
      net: netFromConfig('AffineCoupling', config),
    }),
);
registerBijector(
  'AdditiveCoupling',
  (config) =>
    new AdditiveCoupling({
      channels: config.channels as number,
      net: netFromConfig('AdditiveCoupling', config),
    }),
);
