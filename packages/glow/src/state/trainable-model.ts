import type { NamedVariables } from '@hierglow/flow-layers';
import type * as tf from '@tensorflow/tfjs-core';

/** What a model's `logProb` returns, per example. Only `logP` is required by the trainer. */
export interface LogProbOutput {
  /** Continuous log-density log p(x) in nats, shape `[batch]`. */
  logP: tf.Tensor1D;
  /** Per-scale contributions (spec 3.7), each `[batch]`, summing to `logP`. */
  perScale?: tf.Tensor1D[];
  /** Bits per dimension of the discrete NLL (spec 4), shape `[batch]`. */
  bitsPerDim?: tf.Tensor1D;
  /** Class-conditional models (spec 6.4): log p(x|c) per example and class, `[batch, classes]`. */
  logPPerClass?: tf.Tensor2D;
}

/**
 * A forward pass kept for reversible backprop: the tensors a model's log-density head reads
 * (`leaves`, e.g. per-scale latents and log-dets), the head itself, and the backward pass
 * through the flow given the loss's gradients with respect to the leaves.
 */
export interface ReversibleForward {
  readonly leaves: readonly tf.Tensor[];
  /** The model's `logProb` output computed from the leaves (run under the gradient tape). */
  output(): LogProbOutput;
  /**
   * Adds the flow's variable gradients to `into` (by tfjs variable name), given the gradients
   * with respect to `leaves`, in order (`undefined` where the loss does not read a leaf).
   */
  backward(
    leafGradients: readonly (tf.Tensor | undefined)[],
    into: Record<string, tf.Tensor>,
  ): void;
  dispose(): void;
}

/**
 * A model config as stored in a checkpoint's `config.json`: JSON with the model `kind`. Every
 * config of this package's models (`GlowConfig`, ...) is one.
 */
export interface ModelConfigJson {
  kind: string;
  [key: string]: unknown;
}

/**
 * The structural interface the trainer and the checkpoint code need from a model. The Glow,
 * PatchGlow and DenseGlow models of this package implement it; so can any hand-written flow.
 *
 * Images are NHWC float32 (`x = v/256 − 0.5 + noise`).
 */
export interface TrainableModel {
  /** Log-density per example. May return fresh tensors: callers run it inside `tf.tidy`. */
  logProb(x: tf.Tensor4D): LogProbOutput;
  /** Number of dimensions D of one example (H·W·C), for the `D·ln 256` constant and bits/dim. */
  readonly numDims: number;
  /** Every variable (trainable or not) by stable hierarchical name: the checkpoint tensor names. */
  variables(): NamedVariables;
  /** The variables the optimizer updates (a subset of {@link variables}). */
  trainableVariables(): tf.Variable[];
  /** JSON description that a factory can rebuild the model from. */
  getConfig(): ModelConfigJson;
  /** Releases every variable. */
  dispose(): void;
  /**
   * Optional: the forward pass for reversible backprop (the trainer's `memory: 'reversible'`),
   * run outside any gradient tape.
   */
  reversibleForward?(x: tf.Tensor4D): ReversibleForward;
}

/**
 * Rebuilds a model with fresh variables from its config (e.g. this package's `createModel`),
 * validating it; `source` names where the config came from, for error messages. Declared as a
 * method type so factories typed for a narrower config (`createModel`) fit.
 */
export type ModelFactory<M extends TrainableModel = TrainableModel> = {
  build(config: ModelConfigJson, source: string): M;
}['build'];
