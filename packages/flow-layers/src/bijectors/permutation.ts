import { createRng, randomPermutation } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import {
  Bijector,
  type BijectorConfig,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
  ownedVariable,
  registerBijector,
} from '../bijector.js';
import { ConfigError, ShapeError } from '../errors.js';
import { permutationBackward, type ReversibleBackwardForm } from './reversible-step.js';

function checkHasLastAxis(who: string, shape: readonly number[], size?: number): void {
  if (shape.length < 2) {
    throw new ShapeError(`${who} expects [batch, ..., features] (rank >= 2), got [${shape}]`);
  }
  if (size !== undefined && shape[shape.length - 1] !== size) {
    throw new ShapeError(`${who} permutes a last axis of size ${size}, got an input [${shape}]`);
  }
}

/**
 * Reverses the order of the last axis (channels of NHWC images, features of `[B, D]`): the fixed
 * permutation of RealNVP/Glow's "reverse" variant. Its own inverse; log-det 0.
 */
export class Reverse extends Bijector implements ReversibleBackwardForm {
  readonly type = 'Reverse';

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    this.checkShape(x.shape);
    return tf.tidy(() => ({
      y: tf.reverse(x, -1),
      logDet: tf.zeros([x.shape[0]!]) as tf.Tensor1D,
    }));
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    this.checkShape(y.shape);
    return tf.tidy(() => ({
      x: tf.reverse(y, -1),
      logDet: tf.zeros([y.shape[0]!]) as tf.Tensor1D,
    }));
  }

  protected override checkShape(shape: readonly number[]): void {
    checkHasLastAxis('Reverse', shape);
  }

  /** Reversible backprop's step: the inverse of y, and of dy (a permutation's gradient). */
  readonly reversibleBackward = permutationBackward;

  getConfig(): BijectorConfig {
    return { type: this.type };
  }
}

/**
 * `y[..., k] = x[..., perm[k]]` along the last axis, with a hand-written gradient
 * (`dx = dy[..., inversePerm]`): `gather`'s own gradient needs the `UnsortedSegmentSum` kernel,
 * which the wasm backend lacks, while the forward `GatherV2` kernel exists everywhere.
 */
function permuteLastAxis(x: tf.Tensor, perm: tf.Tensor1D, inversePerm: tf.Tensor1D): tf.Tensor {
  const axis = x.rank - 1;
  const run = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    // Saved, not closed over: the caller's tidy disposes inversePerm before backprop runs.
    save([inversePerm]);
    return {
      value: tf.gather(input, perm, axis),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) =>
        tf.gather(dy as tf.Tensor, saved[0]!, axis),
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return run(x);
}

/** Options of {@link Shuffle}. */
export interface ShuffleOptions {
  /** Size of the last axis (channels or features). */
  size: number;
  /** Seed of the random permutation (default 0). */
  seed?: number;
}

/**
 * A fixed random permutation of the last axis: `y[..., k] = x[..., permutation[k]]`. The
 * permutation is drawn from `seed` and stored as the non-trainable int32 buffer `permutation`,
 * so a loaded checkpoint carries it and the layer does not depend on the seed's generator
 * afterwards. Log-det 0. Gradients work on every backend (see `permuteLastAxis`).
 */
export class Shuffle extends Bijector implements ReversibleBackwardForm {
  readonly type = 'Shuffle';
  readonly size: number;
  readonly seed: number;
  readonly permutation: tf.Variable;

  constructor(options: ShuffleOptions) {
    super();
    const { size, seed = 0 } = options;
    if (!(Number.isInteger(size) && size >= 1)) {
      throw new ConfigError(
        `Shuffle: 'size' must be a positive integer (the last axis), got ${size}`,
      );
    }
    if (!Number.isInteger(seed))
      throw new ConfigError(`Shuffle: 'seed' must be an integer, got ${seed}`);
    this.size = size;
    this.seed = seed;
    const perm = randomPermutation(size, createRng(seed));
    this.permutation = ownedVariable(tf.tensor1d(perm, 'int32'), false);
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    this.checkShape(x.shape);
    return tf.tidy(() => {
      const [perm, inverse] = this.permutations();
      return {
        y: permuteLastAxis(x, perm, inverse),
        logDet: tf.zeros([x.shape[0]!]) as tf.Tensor1D,
      };
    });
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    this.checkShape(y.shape);
    return tf.tidy(() => {
      const [perm, inverse] = this.permutations();
      return {
        x: permuteLastAxis(y, inverse, perm),
        logDet: tf.zeros([y.shape[0]!]) as tf.Tensor1D,
      };
    });
  }

  protected override checkShape(shape: readonly number[]): void {
    checkHasLastAxis('Shuffle', shape, this.size);
  }

  override variables(): NamedVariables {
    return { permutation: this.permutation };
  }

  /** Reversible backprop's step: the inverse of y, and of dy (a permutation's gradient). */
  readonly reversibleBackward = permutationBackward;

  getConfig(): BijectorConfig {
    return { type: this.type, size: this.size, seed: this.seed };
  }

  /**
   * The stored permutation and its inverse. The inverse is derived from the buffer on each call
   * (a read of `size` ints) rather than cached, so it stays right after the buffer is assigned
   * from a checkpoint; a buffer that is not a permutation is reported.
   */
  private permutations(): [tf.Tensor1D, tf.Tensor1D] {
    const perm = this.permutation.dataSync();
    const inverse = new Int32Array(this.size).fill(-1);
    for (let k = 0; k < this.size; k++) {
      const p = perm[k]!;
      if (!(Number.isInteger(p) && p >= 0 && p < this.size) || inverse[p] !== -1) {
        throw new ConfigError(
          `Shuffle: the 'permutation' buffer is not a permutation of 0..${this.size - 1} (entry ${k} = ${p}); ` +
            `the loaded weights do not belong to this layer`,
        );
      }
      inverse[p] = k;
    }
    return [this.permutation as tf.Tensor as tf.Tensor1D, tf.tensor1d(inverse, 'int32')];
  }
}

registerBijector('Reverse', () => new Reverse());
registerBijector('Shuffle', (config) => new Shuffle(config as unknown as ShuffleOptions));
