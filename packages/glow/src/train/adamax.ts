import { adamaxUpdateKernel, simdKernelsAvailable } from '@hierglow/backend-wasm';
import { ConfigError, type NamedVariables } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import type { AdamaxOptions, AdamaxState } from '../state/optimizer-state.js';
import { chunksBySize, flatConcat } from './flat.js';

/** The defaults of spec 6.1 (PyTorch's Adamax defaults plus the paper's weight decay). */
export const ADAMAX_DEFAULTS: Readonly<Required<AdamaxOptions>> = Object.freeze({
  learningRate: 5e-4,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 5e-5,
  warmupSteps: 0,
});

interface Slot {
  expAvg: tf.Variable;
  expInf: tf.Variable;
  steps: number;
}

/**
 * Adamax with PyTorch semantics (`torch.optim.Adamax`, spec 6.1 / 10.6). Per variable θ with
 * gradient g, at its t-th update:
 *
 *   g ← g + wd·θ;  m ← β1·m + (1−β1)·g;  u ← max(β2·u, |g| + eps);  θ ← θ − lr/(1−β1^t) · m/u
 *
 * State is kept per variable NAME (the model's hierarchical variable names), so it can be saved
 * in a checkpoint and loaded into a fresh model. Variables without a gradient in a step are left
 * alone, state included (as PyTorch does for parameters whose `.grad` is None).
 *
 * @example
 * const opt = new Adamax({ learningRate: 1e-3 });
 * opt.applyGradients(model.variables(), grads); // grads keyed by the same names
 */
export class Adamax {
  readonly options: Readonly<Required<AdamaxOptions>>;
  private readonly slots = new Map<string, Slot>();
  private applied = 0;

  constructor(options: AdamaxOptions = {}) {
    const o = { ...ADAMAX_DEFAULTS, ...stripUndefined(options) };
    checkOptions(o);
    this.options = Object.freeze(o);
  }

  /** Number of updates applied so far. */
  get iterations(): number {
    return this.applied;
  }

  /** The learning rate the next update will use (warm-up included). */
  currentLearningRate(): number {
    const { learningRate, warmupSteps } = this.options;
    if (warmupSteps <= 0) return learningRate;
    return learningRate * Math.min(1, (this.applied + 1) / warmupSteps);
  }

  /**
   * Applies one update. `variables` maps names to the variables to update; `grads` maps the same
   * names to gradients (names missing from `grads` are skipped). The caller keeps ownership of
   * `grads`. Gradients must be finite: check first (the trainer skips non-finite steps).
   */
  applyGradients(variables: NamedVariables, grads: Record<string, tf.Tensor>): void {
    for (const name of Object.keys(grads)) {
      const v = variables[name];
      if (!v)
        throw new ConfigError(
          `Adamax: got a gradient for '${name}', which is not among the variables`,
        );
      if (!tf.util.arraysEqual(v.shape, grads[name]!.shape)) {
        throw new ConfigError(
          `Adamax: gradient for '${name}' has shape [${grads[name]!.shape}], the variable has [${v.shape}]`,
        );
      }
    }
    const lr = this.currentLearningRate();
    // Variables whose step counts agree share a step size; each such group is updated as a
    // few flat vectors (see updateFlat). Normally every variable is in one group.
    const groups = new Map<number, string[]>();
    for (const name of Object.keys(grads).sort()) {
      const slot = this.slotFor(name, variables[name]!);
      slot.steps += 1;
      const group = groups.get(slot.steps) ?? [];
      group.push(name);
      groups.set(slot.steps, group);
    }
    for (const [steps, names] of groups) {
      // Computed in float64 here, applied as one float32 scalar, like PyTorch's `clr`.
      const stepSize = lr / (1 - this.options.beta1 ** steps);
      if (simdKernelsAvailable()) {
        this.updateFused(names, variables, grads, stepSize);
        continue;
      }
      for (const chunk of chunksBySize(names, (n) => variables[n]!.size)) {
        this.updateFlat(
          chunk.map((n) => variables[n]!),
          chunk.map((n) => grads[n]!),
          chunk.map((n) => this.slots.get(n)!),
          stepSize,
        );
      }
    }
    this.applied += 1;
  }

  /**
   * The update of every named variable in one call of backend-wasm's `adamaxUpdateKernel` (wasm
   * with hierglow's SIMD kernels): one pass over each variable, no concatenation or split, the
   * same float32 operations in the same order as {@link updateFlat} (bit-identical, tested).
   */
  private updateFused(
    names: readonly string[],
    variables: NamedVariables,
    grads: Record<string, tf.Tensor>,
    stepSize: number,
  ): void {
    const { beta1, beta2, eps, weightDecay } = this.options;
    const vars = names.map((n) => variables[n]!);
    const slots = names.map((n) => this.slots.get(n)!);
    const next = adamaxUpdateKernel(
      vars,
      names.map((n) => grads[n]!),
      slots.map((s) => s.expAvg),
      slots.map((s) => s.expInf),
      { beta1, beta2, eps, weightDecay, stepSize },
    );
    vars.forEach((v, i) => {
      slots[i]!.expAvg.assign(next.m[i]!);
      slots[i]!.expInf.assign(next.u[i]!);
      v.assign(next.theta[i]!);
    });
    tf.dispose([...next.theta, ...next.m, ...next.u]);
  }

  /**
   * One Adamax update of several variables at once: parameters, gradients and both moments are
   * each concatenated into one flat vector, updated with a handful of element-wise ops, and
   * split back. The element-wise arithmetic is the per-variable one, so results are identical;
   * what changes is the kernel count (about ten per group instead of ten per variable), which
   * matters because a model has hundreds of small variables and every kernel call has a fixed
   * cost (tens of microseconds, far more when a wasm thread pool has to wake up).
   */
  private updateFlat(
    vars: tf.Variable[],
    grads: tf.Tensor[],
    slots: Slot[],
    stepSize: number,
  ): void {
    const { beta1, beta2, eps, weightDecay } = this.options;
    tf.tidy(() => {
      const theta = flatConcat(vars);
      let g = flatConcat(grads);
      if (weightDecay !== 0) g = tf.add(g, tf.mul(theta, weightDecay));
      const m = tf.add(tf.mul(flatConcat(slots.map((s) => s.expAvg)), beta1), tf.mul(g, 1 - beta1));
      const u = tf.maximum(
        tf.mul(flatConcat(slots.map((s) => s.expInf)), beta2),
        tf.add(tf.abs(g), eps),
      );
      const updated = tf.sub(theta, tf.mul(tf.div(m, u), stepSize));
      const sizes = vars.map((v) => v.size);
      const pieces = (flat: tf.Tensor) => (vars.length === 1 ? [flat] : tf.split(flat, sizes));
      const [newTheta, newM, newU] = [pieces(updated), pieces(m), pieces(u)];
      vars.forEach((v, i) => {
        slots[i]!.expAvg.assign(tf.reshape(newM[i]!, v.shape));
        slots[i]!.expInf.assign(tf.reshape(newU[i]!, v.shape));
        v.assign(tf.reshape(newTheta[i]!, v.shape));
      });
    });
  }

  /**
   * The current state. The tensors are BORROWED from the optimizer (read them, do not dispose
   * them, do not keep them past the next update); see the checkpoint module for saving.
   */
  getState(): AdamaxState {
    const steps: Record<string, number> = {};
    const expAvg: Record<string, tf.Tensor> = {};
    const expInf: Record<string, tf.Tensor> = {};
    for (const [name, slot] of [...this.slots].sort(([a], [b]) => (a < b ? -1 : 1))) {
      steps[name] = slot.steps;
      expAvg[name] = slot.expAvg;
      expInf[name] = slot.expInf;
    }
    return { iterations: this.applied, steps, expAvg, expInf, options: { ...this.options } };
  }

  /**
   * Replaces the state with a copy of `state` (the caller keeps ownership of its tensors).
   * With `variables`, every state entry must name one of them with the same shape. The
   * hyper-parameters of this optimizer are kept (fine-tuning may change them on purpose).
   */
  setState(state: AdamaxState, variables?: NamedVariables, source = 'optimizer state'): void {
    const names = Object.keys(state.steps);
    for (const name of names) {
      const a = state.expAvg[name];
      const u = state.expInf[name];
      if (!a || !u)
        throw new ConfigError(`${source}: '${name}' lacks its exp_avg or exp_inf tensor`);
      if (!tf.util.arraysEqual(a.shape, u.shape)) {
        throw new ConfigError(`${source}: exp_avg and exp_inf of '${name}' differ in shape`);
      }
      const steps = state.steps[name]!;
      if (!Number.isInteger(steps) || steps < 0) {
        throw new ConfigError(
          `${source}: step count of '${name}' must be an integer >= 0, got ${steps}`,
        );
      }
      if (variables) {
        const v = variables[name];
        if (!v) throw new ConfigError(`${source}: '${name}' is not a variable of the model`);
        if (!tf.util.arraysEqual(v.shape, a.shape)) {
          throw new ConfigError(
            `${source}: '${name}' has shape [${a.shape}], the model expects [${v.shape}]`,
          );
        }
      }
    }
    if (!Number.isInteger(state.iterations) || state.iterations < 0) {
      throw new ConfigError(
        `${source}: iterations must be an integer >= 0, got ${state.iterations}`,
      );
    }
    this.dispose();
    for (const name of names) {
      this.slots.set(name, {
        expAvg: variableFrom(() => tf.cast(state.expAvg[name]!, 'float32')),
        expInf: variableFrom(() => tf.cast(state.expInf[name]!, 'float32')),
        steps: state.steps[name]!,
      });
    }
    this.applied = state.iterations;
  }

  /** Drops all state (moments and counts) and frees its memory. */
  dispose(): void {
    for (const slot of this.slots.values()) {
      slot.expAvg.dispose();
      slot.expInf.dispose();
    }
    this.slots.clear();
    this.applied = 0;
  }

  private slotFor(name: string, v: tf.Variable): Slot {
    let slot = this.slots.get(name);
    if (!slot) {
      slot = {
        expAvg: variableFrom(() => tf.zeros(v.shape)),
        expInf: variableFrom(() => tf.zeros(v.shape)),
        steps: 0,
      };
      this.slots.set(name, slot);
    }
    return slot;
  }
}

/** A non-trainable variable holding a copy of `make()`'s value, without keeping that tensor alive. */
function variableFrom(make: () => tf.Tensor): tf.Variable {
  const init = make();
  const v = tf.variable(init, false);
  init.dispose();
  return v;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkOptions(o: Required<AdamaxOptions>): void {
  const bad = (what: string) => new ConfigError(`Adamax: ${what}`);
  if (!(Number.isFinite(o.learningRate) && o.learningRate > 0)) {
    throw bad(`learningRate must be a finite number > 0, got ${o.learningRate}`);
  }
  for (const key of ['beta1', 'beta2'] as const) {
    if (!(o[key] >= 0 && o[key] < 1)) throw bad(`${key} must be in [0, 1), got ${o[key]}`);
  }
  if (!(Number.isFinite(o.eps) && o.eps >= 0))
    throw bad(`eps must be a finite number >= 0, got ${o.eps}`);
  if (!(Number.isFinite(o.weightDecay) && o.weightDecay >= 0)) {
    throw bad(`weightDecay must be a finite number >= 0, got ${o.weightDecay}`);
  }
  if (!(Number.isInteger(o.warmupSteps) && o.warmupSteps >= 0)) {
    throw bad(`warmupSteps must be an integer >= 0, got ${o.warmupSteps}`);
  }
}
