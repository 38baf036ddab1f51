import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';
import type { Distribution } from './distribution.js';

const HALF_LOG_TWO_PI = 0.5 * Math.log(2 * Math.PI);

/**
 * The standard normal N(0, I) over events of `eventShape` (a diagonal Gaussian with unit
 * variances): the base distribution of a normalizing flow.
 *
 * @example
 * const base = new StandardNormal([2]);
 * base.logProb(tf.zeros([1, 2])); // [-1.8379] = -log(2π)
 */
export class StandardNormal implements Distribution {
  readonly eventShape: readonly number[];
  private readonly eventSize: number;

  constructor(eventShape: readonly number[]) {
    if (eventShape.length === 0 || eventShape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new ShapeError(
        `StandardNormal: eventShape must be positive integers, got [${eventShape.join(', ')}]`,
      );
    }
    this.eventShape = [...eventShape];
    this.eventSize = eventShape.reduce((a, b) => a * b, 1);
  }

  logProb(x: tf.Tensor): tf.Tensor1D {
    const event = x.shape.slice(1);
    if (x.rank < 2 || !tf.util.arraysEqual(event, this.eventShape as number[])) {
      throw new ShapeError(
        `StandardNormal.logProb expects [batch, ${this.eventShape.join(', ')}], got [${x.shape.join(', ')}]`,
      );
    }
    return tf.tidy(() => {
      const squares = tf.sum(tf.reshape(tf.square(x), [x.shape[0]!, this.eventSize]), 1);
      return tf.sub(tf.mul(squares, -0.5), this.eventSize * HALF_LOG_TWO_PI) as tf.Tensor1D;
    });
  }

  sample(n: number, seed?: number): tf.Tensor {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`StandardNormal.sample: n must be a positive integer, got ${n}`);
    }
    return tf.randomNormal([n, ...this.eventShape], 0, 1, 'float32', seed);
  }
}
