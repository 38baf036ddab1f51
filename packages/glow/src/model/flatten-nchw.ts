import {
  Bijector,
  type BijectorConfig,
  ConfigError,
  type ForwardResult,
  type InverseResult,
  registerBijector,
  ShapeError,
} from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { sizeOf } from './layout.js';

/**
 * NHWC `[B, H, W, C]` to `[B, C·H·W]` in NCHW order (index `c·H·W + h·W + w`): the reference
 * code's flattening, so per-dimension parameters line up with a PyTorch checkpoint.
 */
export function flattenNchw(x: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], -1]) as tf.Tensor2D);
}

/** Inverse of {@link flattenNchw}: `[B, C·H·W]` back to NHWC `[B, H, W, C]`. */
export function unflattenNchw(flat: tf.Tensor, [b, h, w, c]: readonly number[]): tf.Tensor4D {
  return tf.tidy(
    () => tf.transpose(tf.reshape(flat, [b!, c!, h!, w!]), [0, 2, 3, 1]) as tf.Tensor4D,
  );
}

/** Options of {@link FlattenNchw}. */
export interface FlattenNchwOptions {
  /** Event shape `[H, W, C]` of the NHWC input. */
  shape: number[];
}

/**
 * Flattens NHWC images `[B, H, W, C]` to vectors `[B, C·H·W]` in NCHW order (index
 * `c·H·W + h·W + w`), as the reference dense Glow does (spec 7.2). Unlike a row-major reshape,
 * this keeps "first half of the vector" = "first half of the channels", so a coupling on the
 * vector and the split after the scale mean the same as in the reference. Log-det 0.
 */
export class FlattenNchw extends Bijector {
  readonly type = 'FlattenNchw';
  readonly shape: readonly number[];

  constructor(options: FlattenNchwOptions) {
    super();
    const { shape } = options;
    if (
      !Array.isArray(shape) ||
      shape.length !== 3 ||
      !shape.every((d) => Number.isInteger(d) && d > 0)
    ) {
      throw new ConfigError(
        `FlattenNchw: 'shape' must be [height, width, channels], got ${JSON.stringify(shape)}`,
      );
    }
    this.shape = [...shape];
  }

  override forwardShape(inputShape: readonly number[]): number[] {
    if (
      inputShape.length !== 4 ||
      !tf.util.arraysEqual(inputShape.slice(1), this.shape as number[])
    ) {
      throw new ShapeError(
        `FlattenNchw expects an NHWC input [batch, ${this.shape}], got [${inputShape}]`,
      );
    }
    return [inputShape[0]!, sizeOf(this.shape)];
  }

  override inverseShape(outputShape: readonly number[]): number[] {
    if (outputShape.length !== 2 || outputShape[1] !== sizeOf(this.shape)) {
      throw new ShapeError(
        `FlattenNchw inverse expects vectors [batch, ${sizeOf(this.shape)}], got [${outputShape}]`,
      );
    }
    return [outputShape[0]!, ...this.shape];
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    this.forwardShape(x.shape);
    return tf.tidy(() => ({
      y: flattenNchw(x as tf.Tensor4D),
      logDet: tf.zeros([x.shape[0]!]) as tf.Tensor1D,
    }));
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    this.inverseShape(y.shape);
    return tf.tidy(() => ({
      x: unflattenNchw(y, [y.shape[0]!, ...this.shape]),
      logDet: tf.zeros([y.shape[0]!]) as tf.Tensor1D,
    }));
  }

  getConfig(): BijectorConfig {
    return { type: this.type, shape: [...this.shape] };
  }
}

registerBijector(
  'FlattenNchw',
  (config) => new FlattenNchw(config as unknown as FlattenNchwOptions),
);
