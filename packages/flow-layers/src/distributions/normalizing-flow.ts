import * as tf from '@tensorflow/tfjs-core';
import type { Bijector, NamedVariables } from '../bijector.js';
import { ShapeError } from '../errors.js';
import type { Distribution } from './distribution.js';

/** Samples with their log-densities, from {@link NormalizingFlow.sampleAndLogProb}. */
export interface SamplesWithLogProb {
  /** `[n, ...eventShape]`. */
  x: tf.Tensor;
  /** `[n]`, nats. */
  logProb: tf.Tensor1D;
}

/**
 * The distribution of data x whose image f(x) under a bijector f follows a base distribution:
 * log p(x) = log p_base(f(x)) + log|det ∂f/∂x|. Like distrax's `Transformed` and normflows'
 * `NormalizingFlow`, with this package's direction: a bijector's `forward` maps **data to the
 * base space** (the normalizing direction, as in Glow), so `logProb` runs `forward` and
 * `sample` runs `inverse` on base samples. (distrax's `Transformed(base, bijector)` takes the
 * opposite map: pass `new Invert(b)` to use a bijector written that way.)
 *
 * Every method returns tensors the caller owns and keeps no intermediate ones; `dispose()`
 * disposes the bijector's variables.
 *
 * @example
 * const flow = new NormalizingFlow(new StandardNormal([2]), new Chain([new ActNorm({ shape: [2] }), coupling]));
 * const nll = tf.tidy(() => tf.neg(tf.mean(flow.logProb(x))));   // train on this
 * const { x: samples, logProb } = flow.sampleAndLogProb(16, 7);
 */
export class NormalizingFlow implements Distribution {
  /** The data's event shape: the bijector's inverse image of the base event shape. */
  readonly eventShape: readonly number[];

  constructor(
    readonly base: Distribution,
    readonly bijector: Bijector,
  ) {
    let dataShape: number[];
    try {
      dataShape = bijector.inverseShape([1, ...base.eventShape]);
    } catch (cause) {
      if (!ShapeError.isInstance(cause)) throw cause;
      throw new ShapeError(
        `NormalizingFlow: ${bijector.type} cannot map to the base's event shape [${base.eventShape.join(', ')}]: ${(cause as Error).message}`,
        { cause },
      );
    }
    this.eventShape = dataShape.slice(1);
  }

  /** log p(x) per example, `[batch]`, in nats. */
  logProb(x: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => {
      const { y, logDet } = this.bijector.forwardAndLogDet(x);
      return tf.add(this.base.logProb(y), logDet) as tf.Tensor1D;
    });
  }

  /** `n` samples `[n, ...eventShape]`: the inverse of the bijector on base samples. */
  sample(n: number, seed?: number): tf.Tensor {
    return tf.tidy(() => this.bijector.inverse(this.base.sample(n, seed)));
  }

  /**
   * `n` samples and their log-densities in one pass: log p(x) = log p_base(z) − log|det ∂f⁻¹/∂z|
   * at z ~ base, without running the bijector forward again.
   */
  sampleAndLogProb(n: number, seed?: number): SamplesWithLogProb {
    const [x, logProb] = tf.tidy(() => {
      const z = this.base.sample(n, seed);
      const { x: data, logDet } = this.bijector.inverseAndLogDet(z);
      return [data, tf.sub(this.base.logProb(z), logDet) as tf.Tensor1D];
    });
    return { x, logProb };
  }

  /** The bijector's variables (the base has none). */
  variables(): NamedVariables {
    return this.bijector.variables();
  }

  trainableVariables(): tf.Variable[] {
    return this.bijector.trainableVariables();
  }

  /** Disposes the bijector's variables. */
  dispose(): void {
    this.bijector.dispose();
  }
}
