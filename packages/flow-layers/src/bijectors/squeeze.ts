import * as tf from '@tensorflow/tfjs-core';
import {
  Bijector,
  type BijectorConfig,
  type ForwardResult,
  type InverseResult,
  registerBijector,
} from '../bijector.js';
import { ConfigError, ShapeError } from '../errors.js';
import { permutationBackward, type ReversibleBackwardForm } from './reversible-step.js';

/** Options of {@link Squeeze}. */
export interface SqueezeOptions {
  /** Spatial factor f (default 2, as in the spec). */
  factor?: number;
}

/**
 * Space-to-depth squeeze for NHWC images with the reference channel order (spec 3.2, 10.1):
 * `[B, H, W, C] → [B, H/f, W/f, C·f²]` with
 * `out[b, h, w, c·f² + i·f + j] = in[b, f·h + i, f·w + j, c]`: the original channel is the
 * slowest index and the f×f sub-position the fastest. This is NOT `tf.spaceToDepth`'s order
 * (`(i·f + j)·C + c`), and it is built from reshape/transpose so gradients exist on every
 * backend. Log-det 0. Unsqueeze is `new Invert(new Squeeze())`.
 */
export class Squeeze extends Bijector implements ReversibleBackwardForm {
  readonly type = 'Squeeze';
  readonly factor: number;

  constructor(options: SqueezeOptions = {}) {
    super();
    const { factor = 2 } = options;
    if (!(Number.isInteger(factor) && factor >= 1)) {
      throw new ConfigError(`Squeeze: 'factor' must be a positive integer, got ${factor}`);
    }
    this.factor = factor;
  }

  override forwardShape(inputShape: readonly number[]): number[] {
    const f = this.factor;
    if (inputShape.length !== 4) {
      throw new ShapeError(`Squeeze expects a rank-4 NHWC tensor, got shape [${inputShape}]`);
    }
    const [b, h, w, c] = inputShape as [number, number, number, number];
    if (h % f !== 0 || w % f !== 0) {
      throw new ShapeError(
        `Squeeze (factor ${f}) needs height and width divisible by ${f}, got an NHWC input [${inputShape}]; ` +
          `resize or crop the images`,
      );
    }
    return [b, h / f, w / f, c * f * f];
  }

  override inverseShape(outputShape: readonly number[]): number[] {
    const f = this.factor;
    if (outputShape.length !== 4) {
      throw new ShapeError(
        `Squeeze inverse expects a rank-4 NHWC tensor, got shape [${outputShape}]`,
      );
    }
    const [b, h, w, c] = outputShape as [number, number, number, number];
    if (c % (f * f) !== 0) {
      throw new ShapeError(
        `Squeeze (factor ${f}) inverse needs a channel count divisible by ${f * f}, got [${outputShape}]`,
      );
    }
    return [b, h * f, w * f, c / (f * f)];
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    const [b, ho, wo, co] = this.forwardShape(x.shape) as [number, number, number, number];
    const f = this.factor;
    const c = x.shape[3]!;
    return tf.tidy(() => {
      const split = tf.reshape(x, [b, ho, f, wo, f, c]);
      // [B, H/f, i, W/f, j, C] → [B, H/f, W/f, C, i, j]: channel slowest, then i, then j.
      const y = tf.reshape(tf.transpose(split, [0, 1, 3, 5, 2, 4]), [b, ho, wo, co]);
      return { y, logDet: tf.zeros([b]) as tf.Tensor1D };
    });
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    const [b, h, w, c] = this.inverseShape(y.shape) as [number, number, number, number];
    const f = this.factor;
    return tf.tidy(() => {
      const split = tf.reshape(y, [b, h / f, w / f, c, f, f]);
      // [B, H/f, W/f, C, i, j] → [B, H/f, i, W/f, j, C]
      const x = tf.reshape(tf.transpose(split, [0, 1, 4, 2, 5, 3]), [b, h, w, c]);
      return { x, logDet: tf.zeros([b]) as tf.Tensor1D };
    });
  }

  /** Reversible backprop's step: the inverse of y, and of dy (a permutation's gradient). */
  readonly reversibleBackward = permutationBackward;

  getConfig(): BijectorConfig {
    return { type: this.type, factor: this.factor };
  }
}

registerBijector('Squeeze', (config) => new Squeeze(config as SqueezeOptions));
