import * as tf from '@tensorflow/tfjs-core';
import {
  Bijector,
  type BijectorConfig,
  bijectorFromConfig,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
  prefixVariables,
  registerBijector,
} from '../bijector.js';
import { ConfigError } from '../errors.js';
import { forwardChannelAffineRun } from './channel-affine.js';

/**
 * Composition of bijectors applied in ARRAY ORDER: `new Chain([a, b, c]).forward(x)` is
 * `c(b(a(x)))`, i.e. `bijectors[0]` sees the input first, the way a flow is written down
 * (ActNorm, then 1×1 conv, then coupling). This is the reverse of distrax/TFP's `Chain`, which
 * applies the LAST element first. The inverse runs the inverses in reverse array order.
 *
 * Log-dets add up. Variables are named `<index>.<child name>` (e.g. `0.loc`); the config nests
 * the children's configs. Owns its children: `dispose` disposes them.
 */
export class Chain extends Bijector {
  readonly type = 'Chain';
  readonly bijectors: readonly Bijector[];

  constructor(bijectors: Bijector[]) {
    super();
    if (!Array.isArray(bijectors) || bijectors.length === 0) {
      throw new ConfigError('Chain needs a non-empty array of bijectors');
    }
    const bad = bijectors.findIndex((b) => !(b instanceof Bijector));
    if (bad >= 0) throw new ConfigError(`Chain: element ${bad} is not a Bijector`);
    this.bijectors = [...bijectors];
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    return tf.tidy(() => {
      const { y, logDet } = forwardSequence(this.bijectors, x);
      return { y, logDet };
    });
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    return tf.tidy(() => {
      let x = y;
      let logDet: tf.Tensor1D | null = null;
      for (let i = this.bijectors.length - 1; i >= 0; i--) {
        const step = this.bijectors[i]!.inverseAndLogDet(x);
        x = step.x;
        logDet = logDet === null ? step.logDet : (tf.add(logDet, step.logDet) as tf.Tensor1D);
      }
      return { x, logDet: logDet! };
    });
  }

  override forwardShape(inputShape: readonly number[]): number[] {
    return this.bijectors.reduce<number[]>((shape, b) => b.forwardShape(shape), [...inputShape]);
  }

  override inverseShape(outputShape: readonly number[]): number[] {
    return this.bijectors.reduceRight<number[]>(
      (shape, b) => b.inverseShape(shape),
      [...outputShape],
    );
  }

  override variables(): NamedVariables {
    return Object.assign(
      {},
      ...this.bijectors.map((b, i) => prefixVariables(String(i), b.variables())),
    );
  }

  getConfig(): BijectorConfig {
    return { type: this.type, bijectors: this.bijectors.map((b) => b.getConfig()) };
  }

  override dispose(): void {
    for (const b of this.bijectors) b.dispose();
  }
}

/** What {@link forwardSequence} returns; the caller owns every tensor. */
export interface SequenceResult {
  y: tf.Tensor;
  /** The sum of every bijector's log-det, `[batch]`. */
  logDet: tf.Tensor1D;
  /** With `perLayerLogDets`: each bijector's own log-det, in order; else null. */
  layerLogDets: tf.Tensor1D[] | null;
  /**
   * How many bijectors each forward unit covered, in order (1, or the length of a fused
   * channel-affine run): `backwardSequence` recomputes and differentiates the same units.
   */
  unitSizes: number[];
}

/**
 * Runs `bijectors` forward in array order (the loop of {@link Chain}, shared with composites
 * that keep their layers in their own structure, like the Glow scale stack). Where the op set
 * in force fuses (`FusedOps.fuse`), consecutive affine maps of the channels run as one matrix
 * product (see `forwardChannelAffineRun`); with `perLayerLogDets` every bijector runs on its
 * own, so each log-det is its own. Each intermediate activation is freed as soon as the next
 * bijector has consumed it, so a sequence holds one at a time (a gradient tape keeps its own
 * references to what the backward pass needs). `x` itself is left alone.
 */
export function forwardSequence(
  bijectors: readonly Bijector[],
  x: tf.Tensor,
  options: { perLayerLogDets?: boolean } = {},
): SequenceResult {
  const layerLogDets: tf.Tensor1D[] | null = options.perLayerLogDets ? [] : null;
  const unitSizes: number[] = [];
  let y = x;
  let logDet = tf.zeros([x.shape[0]!]) as tf.Tensor1D;
  for (let i = 0; i < bijectors.length; ) {
    const fused = layerLogDets ? null : forwardChannelAffineRun(bijectors, i, y);
    const result = fused?.result ?? bijectors[i]!.forwardAndLogDet(y);
    i += fused?.count ?? 1;
    unitSizes.push(fused?.count ?? 1);
    if (y !== x && y !== result.y) y.dispose();
    y = result.y;
    const sum = tf.add(logDet, result.logDet) as tf.Tensor1D;
    logDet.dispose();
    logDet = sum;
    if (layerLogDets) layerLogDets.push(result.logDet);
    else result.logDet.dispose();
  }
  return { y, logDet, layerLogDets, unitSizes };
}

registerBijector('Chain', (config) => {
  const children = config.bijectors;
  if (!Array.isArray(children)) {
    throw new ConfigError(`Chain config needs a 'bijectors' array, got ${JSON.stringify(config)}`);
  }
  return new Chain(children.map((c) => bijectorFromConfig(c as BijectorConfig)));
});
