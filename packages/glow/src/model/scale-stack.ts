import {
  type Bijector,
  forwardSequence,
  fusedOps,
  type NamedVariables,
  prefixVariables,
  ShapeError,
} from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import type { ScalePrior } from './prior.js';

/** One named invertible layer of a scale's flow; the name prefixes its variables. */
export interface NamedLayer {
  name: string;
  bijector: Bijector;
}

/**
 * One scale k of a multi-scale flow (spec 3.1): its flow (squeeze, then K steps) on all of its
 * input channels, then, unless it is the last scale, a split of the channels in half (first
 * half z_k factored out, second half h_{k+1} passed on), and a prior on z_k.
 */
export interface ScaleLevel {
  /** The layers of the scale's flow, in forward order. */
  layers: NamedLayer[];
  /** Whether the flow's output is split (every scale but the last). */
  split: boolean;
  prior: ScalePrior;
}

/** Per-scale log-density terms of a batch (spec 3.7); every log-det is per example, nats. */
export interface ScaleTerms {
  /** u_k: the standard-normal latents of each scale, NHWC (the same shape as z_k). */
  latents: tf.Tensor4D[];
  /** F_k: log-det of scale k's whole flow (squeeze + K steps). */
  flowLogDets: tf.Tensor1D[];
  /** A_k: log-det of scale k's prior bijection z_k → u_k. */
  priorLogDets: tf.Tensor1D[];
  /** With `keepLevelInputs`: h_k, the input of scale k (h_0 = x), NHWC. */
  levelInputs?: tf.Tensor4D[];
  /** With `keepLayerLogDets`: each layer's log-det, named `levels.{k}.{layer}`. */
  layerLogDets?: { name: string; logDet: tf.Tensor1D }[];
}

/** Options of {@link ScaleStack.forward}: extra outputs for tests and analysis. */
export interface ScaleForwardOptions {
  keepLevelInputs?: boolean;
  keepLayerLogDets?: boolean;
}

/**
 * The multi-scale graph shared by every model here: runs the scales in order, splitting and
 * applying each scale's prior, and keeps F_k and A_k apart so the per-scale decomposition is
 * computed directly (spec 3.7), without the reference code's halving bookkeeping.
 *
 * Variable names: `levels.{k}.{layer name}.{variable}` and `levels.{k}.prior.{variable}`.
 */
export class ScaleStack {
  readonly levels: readonly ScaleLevel[];

  constructor(levels: ScaleLevel[]) {
    this.levels = levels;
  }

  /** Runs every scale on `x` (NHWC); the caller owns (and disposes) every returned tensor. */
  forward(x: tf.Tensor4D, options: ScaleForwardOptions = {}): ScaleTerms {
    const terms: ScaleTerms = { latents: [], flowLogDets: [], priorLogDets: [] };
    if (options.keepLevelInputs) terms.levelInputs = [];
    if (options.keepLayerLogDets) terms.layerLogDets = [];
    let h: tf.Tensor4D = x;
    this.levels.forEach((level, k) => {
      if (terms.levelInputs) terms.levelInputs.push(k === 0 ? tf.clone(h) : h);
      // One tidy per scale keeps peak memory to one scale's intermediates outside a gradient tape.
      const out = tf.tidy(() => {
        // ActNorm → 1x1 conv run as one product where the ops fuse, unless the caller asked
        // for every layer's own log-det.
        const {
          y,
          logDet: flowLogDet,
          layerLogDets,
        } = forwardSequence(
          level.layers.map((layer) => layer.bijector),
          h,
          { perLayerLogDets: terms.layerLogDets !== undefined },
        );
        const [z, passedOn] = level.split
          ? splitHalves(y as tf.Tensor4D)
          : [y as tf.Tensor4D, null];
        const { u, logDet: priorLogDet } = level.prior.standardize(z, passedOn);
        // tf.tidy results cannot hold null: the passed-on half travels as a 0- or 1-element list.
        return {
          u,
          flowLogDet,
          priorLogDet,
          passedOn: passedOn ? [passedOn] : [],
          layerLogDets: layerLogDets ?? [],
        };
      });
      if (terms.levelInputs === undefined && k > 0) h.dispose();
      terms.latents.push(out.u);
      terms.flowLogDets.push(out.flowLogDet);
      terms.priorLogDets.push(out.priorLogDet);
      out.layerLogDets.forEach((logDet, i) => {
        terms.layerLogDets?.push({ name: `levels.${k}.${level.layers[i]!.name}`, logDet });
      });
      if (out.passedOn[0]) h = out.passedOn[0];
    });
    return terms;
  }

  /**
   * Inverts {@link forward}: the input x (NHWC) from the per-scale latents u_k, with
   * log|det ∂x/∂(u_0..u_{L-1})| per example (= −Σ_k (F_k + A_k) at that x).
   */
  inverse(latents: readonly tf.Tensor4D[]): { x: tf.Tensor4D; logDet: tf.Tensor1D } {
    if (latents.length !== this.levels.length) {
      throw new ShapeError(
        `expected one latent tensor per scale (${this.levels.length}), got ${latents.length}`,
      );
    }
    return tf.tidy(() => {
      let h: tf.Tensor4D | null = null;
      let logDet = tf.zeros([latents[0]!.shape[0]]) as tf.Tensor1D;
      for (let k = this.levels.length - 1; k >= 0; k--) {
        const level = this.levels[k]!;
        const prior = level.prior.unstandardize(latents[k]!, h);
        logDet = tf.add(logDet, prior.logDet);
        let y: tf.Tensor = level.split ? tf.concat([prior.z, h!], 3) : prior.z;
        for (let i = level.layers.length - 1; i >= 0; i--) {
          const result = level.layers[i]!.bijector.inverseAndLogDet(y);
          if (y !== prior.z && y !== result.x) y.dispose();
          y = result.x;
          logDet = tf.add(logDet, result.logDet);
        }
        h = y as tf.Tensor4D;
      }
      return { x: h!, logDet };
    });
  }

  /** Every variable of every scale, with the hierarchical names described on the class. */
  variables(): NamedVariables {
    const all: NamedVariables = {};
    this.levels.forEach((level, k) => {
      for (const layer of level.layers) {
        Object.assign(
          all,
          prefixVariables(`levels.${k}.${layer.name}`, layer.bijector.variables()),
        );
      }
      Object.assign(all, prefixVariables(`levels.${k}.prior`, level.prior.variables()));
    });
    return all;
  }

  dispose(): void {
    for (const level of this.levels) {
      for (const layer of level.layers) layer.bijector.dispose();
      level.prior.dispose();
    }
  }
}

/** First and second half of the channels (last axis) of an NHWC tensor (spec 3.1, 10.2). */
function splitHalves(y: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
  const [first, second] = fusedOps().splitChannelHalves(y);
  return [first as tf.Tensor4D, second as tf.Tensor4D];
}
