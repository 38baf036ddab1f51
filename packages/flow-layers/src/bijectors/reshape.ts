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

/** Options of {@link Reshape}: event shapes, i.e. without the batch axis. */
export interface ReshapeOptions {
  /** Event shape of the input, e.g. `[4, 4, 2]` for NHWC 4×4×2 images. */
  from: number[];
  /** Event shape of the output, e.g. `[32]`; same number of values as `from`. */
  to: number[];
}

function isShape(s: unknown): s is number[] {
  return Array.isArray(s) && s.every((d) => Number.isInteger(d) && d > 0);
}

/**
 * Reshapes the event (every axis but the batch) from one shape to another in row-major order,
 * e.g. flatten NHWC `[B, 4, 4, 2] → [B, 32]` with `{ from: [4, 4, 2], to: [32] }`. Log-det 0.
 */
export class Reshape extends Bijector implements ReversibleBackwardForm {
  readonly type = 'Reshape';
  readonly from: readonly number[];
  readonly to: readonly number[];

  constructor(options: ReshapeOptions) {
    super();
    const { from, to } = options;
    if (!isShape(from) || !isShape(to)) {
      throw new ConfigError(
        `Reshape: 'from' and 'to' must be lists of positive integers (event shapes without the batch axis), ` +
          `got from ${JSON.stringify(from)}, to ${JSON.stringify(to)}`,
      );
    }
    const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
    if (size(from) !== size(to)) {
      throw new ConfigError(
        `Reshape: [${from}] has ${size(from)} values but [${to}] has ${size(to)}; they must be equal`,
      );
    }
    this.from = [...from];
    this.to = [...to];
  }

  override forwardShape(inputShape: readonly number[]): number[] {
    this.checkEvent('forward', inputShape, this.from);
    return [inputShape[0]!, ...this.to];
  }

  override inverseShape(outputShape: readonly number[]): number[] {
    this.checkEvent('inverse', outputShape, this.to);
    return [outputShape[0]!, ...this.from];
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    const shape = this.forwardShape(x.shape);
    return tf.tidy(() => ({
      y: tf.reshape(x, shape),
      logDet: tf.zeros([shape[0]!]) as tf.Tensor1D,
    }));
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    const shape = this.inverseShape(y.shape);
    return tf.tidy(() => ({
      x: tf.reshape(y, shape),
      logDet: tf.zeros([shape[0]!]) as tf.Tensor1D,
    }));
  }

  /** Reversible backprop's step: the inverse of y, and of dy (a permutation's gradient). */
  readonly reversibleBackward = permutationBackward;

  getConfig(): BijectorConfig {
    return { type: this.type, from: [...this.from], to: [...this.to] };
  }

  private checkEvent(direction: string, shape: readonly number[], event: readonly number[]): void {
    if (
      shape.length !== event.length + 1 ||
      !tf.util.arraysEqual(shape.slice(1), event as number[])
    ) {
      throw new ShapeError(
        `Reshape ${direction} expects [batch, ${event.join(', ')}], got [${shape}]`,
      );
    }
  }
}

registerBijector('Reshape', (config) => new Reshape(config as unknown as ReshapeOptions));
