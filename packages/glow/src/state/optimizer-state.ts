import type * as tf from '@tensorflow/tfjs-core';

/**
 * The optimizer's persistent state, as the checkpoint stores it. It sits below both the trainer
 * (which owns an optimizer) and the checkpoint code (which saves and restores one), so neither
 * has to import the other's folder for it.
 */

/** Hyper-parameters of the Adamax optimizer (`train/adamax.ts`). Defaults are the paper's (spec 6.1). */
export interface AdamaxOptions {
  /** Learning rate; 5e-4. */
  learningRate?: number;
  /** Decay of the first moment; 0.9. */
  beta1?: number;
  /** Decay of the infinity norm; 0.999. */
  beta2?: number;
  /** Added to |g| inside the infinity norm (PyTorch's placement); 1e-8. */
  eps?: number;
  /**
   * L2 weight decay ADDED TO THE GRADIENT before the moments (`g ← g + wd·θ`, PyTorch Adamax
   * semantics, spec 10.6); 5e-5. Not decoupled, and not tfjs' learning-rate `decay`.
   */
  weightDecay?: number;
  /**
   * Linear warm-up length in updates: the learning rate is `lr·min(1, (t+1)/warmupSteps)` with
   * t the number of updates applied so far. 0 (the default) disables warm-up, as in the paper.
   */
  warmupSteps?: number;
}

/** The serialisable state of an Adamax optimizer: enough to continue a run bit-for-bit. */
export interface AdamaxState {
  /** Number of updates applied (steps skipped for non-finite gradients do not count). */
  iterations: number;
  /** Per variable: how many updates it received (PyTorch keeps a step per parameter). */
  steps: Record<string, number>;
  /** Per variable: the first moment `m` (PyTorch's `exp_avg`). */
  expAvg: Record<string, tf.Tensor>;
  /** Per variable: the infinity norm `u` (PyTorch's `exp_inf`). */
  expInf: Record<string, tf.Tensor>;
  /** The hyper-parameters the state was produced with. */
  options: Required<AdamaxOptions>;
}

/** What the checkpoint code needs of an optimizer: its state. */
export interface StatefulOptimizer {
  getState(): AdamaxState;
}
