import {
  accumulateGradient,
  type Bijector,
  backwardSequence,
  forwardSequence,
  fusedOps,
  type NamedVariables,
  prefixVariables,
  ShapeError,
  type VariableGradients,
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
  /**
   * With `keepLevelOutputs`: the output of scale k's flow before the split, and the forward
   * units of its layers: what {@link ScaleStack.backward} starts from.
   */
  levelOutputs?: { y: tf.Tensor; unitSizes: number[] }[];
}

/**
 * Options of {@link ScaleStack.forward}: extra outputs for tests and analysis, and for the
 * reversible backward pass.
 */
export interface ScaleForwardOptions {
  keepLevelInputs?: boolean;
  keepLayerLogDets?: boolean;
  keepLevelOutputs?: boolean;
}

/**
 * Upstream gradients of a loss with respect to the per-scale terms of {@link ScaleTerms}
 * (`undefined`: the loss does not depend on that term).
 */
export interface ScaleTermGradients {
  latents: readonly (tf.Tensor | undefined)[];
  flowLogDets: readonly (tf.Tensor | undefined)[];
  priorLogDets: readonly (tf.Tensor | undefined)[];
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
    if (options.keepLevelOutputs) terms.levelOutputs = [];
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
          unitSizes,
        } = forwardSequence(
          level.layers.map((layer) => layer.bijector),
          h,
          { perLayerLogDets: terms.layerLogDets !== undefined },
        );
        const [z, passedOn] = level.split
          ? splitHalves(y as tf.Tensor4D)
          : [y as tf.Tensor4D, null];
        const { u, logDet: priorLogDet } = level.prior.standardize(z, passedOn);
        if (terms.levelOutputs) terms.levelOutputs.push({ y: tf.keep(y), unitSizes });
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

  /**
   * Reversible backprop through the stack (no per-step activations): from the scale outputs a
   * {@link forward} with `keepLevelOutputs` kept and the loss's gradients with respect to the
   * per-scale terms, adds the gradient of every trainable variable of the flows and priors to
   * `into` (by tfjs variable name). Scales run from the coarsest: each prior's gradient by
   * autodiff of the prior alone, then the scale's layers by {@link backwardSequence} (each
   * step's input recomputed from its output; a coupling's net runs once, for both its inverse
   * and its gradient), whose input gradient flows into
   * the passed-on half of the scale before. The stack's input gets no gradient (it is data).
   * Peak memory is one flow step's activations plus the kept scale outputs, whatever K.
   */
  backward(
    levelOutputs: readonly { y: tf.Tensor; unitSizes: readonly number[] }[],
    grads: ScaleTermGradients,
    into: VariableGradients,
  ): void {
    if (levelOutputs.length !== this.levels.length) {
      throw new ShapeError(
        `ScaleStack.backward: expected one kept output per scale (${this.levels.length}), got ${levelOutputs.length}; run forward with keepLevelOutputs`,
      );
    }
    let dPassedOn: tf.Tensor | null = null;
    for (let k = this.levels.length - 1; k >= 0; k--) {
      const level = this.levels[k]!;
      const { y, unitSizes } = levelOutputs[k]!;
      const batch = y.shape[0]!;
      const [z, passedOn] = level.split ? splitHalves(y as tf.Tensor4D) : [y as tf.Tensor4D, null];
      const du = grads.latents[k] ?? tf.zerosLike(z);
      const dA = grads.priorLogDets[k] ?? tf.zeros([batch]);
      const priorVariables = Object.values(level.prior.variables()).filter((v) => v.trainable);
      const inputs: tf.Tensor[] = passedOn ? [z, passedOn] : [z];
      const { value, grads: priorGrads } = tf.engine().gradients(
        () => {
          const { u, logDet } = level.prior.standardize(z, passedOn);
          return tf.add(tf.sum(tf.mul(u, du)), tf.sum(tf.mul(logDet, dA)));
        },
        [...inputs, ...priorVariables],
        undefined,
        true,
      );
      value.dispose();
      priorVariables.forEach((v, i) => {
        const g = priorGrads[i + inputs.length];
        if (g) accumulateGradient(into, v.name, g);
      });
      const dz = priorGrads[0] ?? tf.zerosLike(z);
      let dy: tf.Tensor = dz;
      if (passedOn) {
        const dh = tf.tidy(() => {
          const fromPrior = priorGrads[1];
          if (dPassedOn && fromPrior) return tf.add(dPassedOn, fromPrior);
          return dPassedOn
            ? tf.clone(dPassedOn)
            : fromPrior
              ? tf.clone(fromPrior)
              : tf.zerosLike(passedOn);
        });
        dy = fusedOps().concatChannelHalves(dz, dh);
        tf.dispose([dz, dh, priorGrads[1] ?? []]);
      }
      dPassedOn?.dispose();
      dPassedOn = null;
      // Without a split, z is the kept output itself.
      if (passedOn) tf.dispose([z, passedOn]);
      tf.dispose([grads.latents[k] ? [] : du, grads.priorLogDets[k] ? [] : dA]);
      const dF = (grads.flowLogDets[k] ?? tf.zeros([batch])) as tf.Tensor1D;
      const { x, dx } = backwardSequence(
        level.layers.map((layer) => layer.bijector),
        unitSizes,
        y,
        dy,
        dF,
        into,
        { inputGradient: k > 0 },
      );
      tf.dispose([x, dy, grads.flowLogDets[k] ? [] : dF]);
      dPassedOn = dx;
    }
    dPassedOn?.dispose();
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
