import { ActNorm, type NamedVariables, prefixVariables, withDataInit } from '@hierglow/flow-layers';
import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import type {
  LogProbOutput,
  ModelConfigJson,
  TrainableModel,
} from '../../state/trainable-model.js';

/** Options of {@link TinyFlow}. */
export type TinyFlowOptions = {
  height: number;
  width: number;
  hidden: number;
  seed: number;
};

/** Config of {@link TinyFlow}, as stored in checkpoints. */
export type TinyFlowConfig = TinyFlowOptions & { kind: 'tiny-flow' };

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/**
 * A two-channel flow for testing the trainer and checkpoints without the real Glow: per-channel
 * ActNorm, then an affine coupling (channel 0 conditions channel 1 through a one-hidden-layer
 * per-pixel network, sigmoid(+2) scale, add then scale), then a standard normal. It has a
 * non-trainable buffer, like the LU permutation of the real model. NHWC input `[B, H, W, 2]`.
 */
export class TinyFlow implements TrainableModel {
  readonly config: TinyFlowConfig;
  readonly numDims: number;
  private readonly norm = new ActNorm({ shape: [2] });
  private readonly w1: tf.Variable;
  private readonly b1: tf.Variable;
  private readonly w2: tf.Variable;
  /** Fixed multiplier of the coupling output: a non-trainable buffer. */
  private readonly outScale: tf.Variable;

  constructor(options: TinyFlowOptions) {
    const { height, width, hidden, seed } = options;
    this.config = { kind: 'tiny-flow', height, width, hidden, seed };
    this.numDims = height * width * 2;
    const rng = createRng(seed);
    const normal = (n: number, std: number) =>
      Float32Array.from({ length: n }, () => std * rng.normal());
    const variable = (values: Float32Array, shape: number[], trainable = true) => {
      const init = tf.tensor(values, shape);
      const v = tf.variable(init, trainable);
      init.dispose();
      return v;
    };
    this.w1 = variable(normal(hidden, 1), [1, hidden]);
    this.b1 = variable(normal(hidden, 0.1), [hidden]);
    this.w2 = variable(normal(hidden * 2, 0.05), [hidden, 2]);
    this.outScale = variable(Float32Array.from([1, 0.5]), [2], false);
  }

  logProb(x: tf.Tensor4D): LogProbOutput {
    return tf.tidy(() => {
      const [batch, h, w] = x.shape;
      const { y: normed, logDet: normLogDet } = this.norm.forwardAndLogDet(x);
      const xa = tf.reshape(tf.slice(normed, [0, 0, 0, 0], [-1, -1, -1, 1]), [-1, 1]);
      const xb = tf.reshape(tf.slice(normed, [0, 0, 0, 1], [-1, -1, -1, 1]), [-1]);
      const hidden = tf.tanh(tf.add(tf.matMul(xa, this.w1), this.b1));
      const out = tf.mul(tf.matMul(hidden, this.w2), this.outScale);
      const shift = tf.reshape(tf.slice(out, [0, 0], [-1, 1]), [-1]);
      const scale = tf.sigmoid(tf.add(tf.reshape(tf.slice(out, [0, 1], [-1, 1]), [-1]), 2));
      const yb = tf.mul(tf.add(xb, shift), scale);
      const perExample = (t: tf.Tensor) => tf.sum(tf.reshape(t, [batch, h * w]), 1);
      const couplingLogDet = perExample(tf.log(scale));
      const logNormal = (t: tf.Tensor) =>
        perExample(tf.sub(tf.mul(tf.square(t), -0.5), HALF_LOG_2PI));
      const prior = tf.add(logNormal(xa), logNormal(yb));
      const logP = tf.add(tf.add(normLogDet, couplingLogDet), prior) as tf.Tensor1D;
      const bitsPerDim = tf.div(
        tf.add(tf.neg(logP), this.numDims * Math.log(256)),
        this.numDims * Math.LN2,
      ) as tf.Tensor1D;
      return { logP, perScale: [logP], bitsPerDim };
    });
  }

  /** Data-dependent init of the ActNorm (spec 3.6). */
  initialize(x: tf.Tensor4D): void {
    withDataInit(() => tf.dispose(this.logProb(x) as unknown as tf.Tensor[]));
  }

  variables(): NamedVariables {
    return {
      ...prefixVariables('norm', this.norm.variables()),
      'coupling.w1': this.w1,
      'coupling.b1': this.b1,
      'coupling.w2': this.w2,
      'coupling.outScale': this.outScale,
    };
  }

  trainableVariables(): tf.Variable[] {
    return Object.values(this.variables()).filter((v) => v.trainable);
  }

  getConfig(): TinyFlowConfig {
    return { ...this.config };
  }

  dispose(): void {
    tf.dispose(Object.values(this.variables()));
  }
}

/** A factory for {@link TinyFlow} with the `ModelFactory` signature. */
export function createTinyFlow(config: ModelConfigJson): TinyFlow {
  if (config.kind !== 'tiny-flow') throw new Error(`unknown model kind '${config.kind}'`);
  return new TinyFlow(config as unknown as TinyFlowOptions);
}

/**
 * Deterministic fake image batches `[B, H, W, 2]` in [−0.5, 0.5): batch `i` of epoch `e` under
 * `seed` is always the same, like a seeded data loader.
 */
export function fakeBatch(
  seed: number,
  epoch: number,
  index: number,
  batch: number,
  h: number,
  w: number,
) {
  const rng = createRng(seed * 7919 + epoch * 104729 + index * 31);
  const x = new Float32Array(batch * h * w * 2);
  for (let i = 0; i < x.length; i++) {
    // Correlated channels so the coupling has something to learn.
    const base = rng.uniform() - 0.5;
    x[i] = i % 2 === 0 ? base : Math.max(-0.5, Math.min(0.49, 0.8 * (x[i - 1] ?? 0) + 0.1 * base));
  }
  return { x, shape: [batch, h, w, 2] as [number, number, number, number] };
}
