import * as tf from '@tensorflow/tfjs-core';
import type { Bijector } from '../bijector.js';

/** What {@link ReversibleBackwardForm.reversibleBackward} returns; the caller owns every tensor. */
export interface ReversibleStepResult {
  /** The bijector's input, recomputed from its output. */
  x: tf.Tensor;
  /** ∂loss/∂x, or null when not asked for. */
  dx: tf.Tensor | null;
  /** ∂loss/∂v for the trainable variables v the step depends on (absent: no gradient). */
  grads: { variable: tf.Variable; grad: tf.Tensor }[];
}

/**
 * Implemented by bijectors that can take one step of reversible backprop (`backwardSequence`)
 * more cheaply than the generic one, which runs the inverse, then the forward again under a
 * gradient tape, then the tape's gradient. An affine coupling's inverse and its forward both
 * evaluate the coupling net on the same unchanged half, so the generic step evaluates the net
 * twice; its own step evaluates it once under the tape and uses the output both to invert the
 * other half and to start the net's backward pass (as memory-efficient RevNet and Glow
 * implementations do). Not part of the {@link Bijector} contract: a bijector without it goes
 * through the generic step.
 */
export interface ReversibleBackwardForm {
  /**
   * From the output `y` and the upstream gradients `dy` (of `y`) and `dLogDet` (of the log-det,
   * `[batch]`), the input and the vector-Jacobian product of ⟨y, dy⟩ + ⟨logDet, dLogDet⟩ with
   * respect to the input (when `inputGradient`) and to every trainable variable. Equal to the
   * generic step's result within float32 rounding. Inputs are left alone.
   */
  reversibleBackward(
    y: tf.Tensor,
    dy: tf.Tensor,
    dLogDet: tf.Tensor1D,
    inputGradient: boolean,
  ): ReversibleStepResult;
}

/** The bijector's {@link ReversibleBackwardForm}, or null when it has none. */
export function reversibleBackwardOf(bijector: Bijector): ReversibleBackwardForm | null {
  const form = (bijector as Partial<ReversibleBackwardForm>).reversibleBackward;
  return typeof form === 'function' ? (bijector as unknown as ReversibleBackwardForm) : null;
}

/**
 * The vector-Jacobian product of `f` at a cotangent that depends on `f`'s own output, with `f`
 * evaluated once: runs `f` under a gradient tape, then `cotangent(out)` on its output outside
 * the tape, then backpropagates the returned cotangent to `sources`. `cotangent` may return
 * by-products computed from the output (e.g. the inverted half of a coupling), which are kept
 * and handed back. Returns one gradient (or null: no dependence) per source; the caller owns
 * every returned tensor.
 *
 * Why: tfjs' `gradients` wants the cotangent before `f` runs. Here the tape's root is a custom-
 * gradient op on `f`'s output whose forward function (which tfjs runs untaped) computes the
 * cotangent and whose gradient is that cotangent; the root's value (a zero scalar) is unused,
 * and the tape seeds it with 1, so the gradients are exactly the product with the cotangent.
 */
export function vjpFromOutput<T extends tf.Tensor[]>(
  f: () => tf.Tensor,
  sources: readonly tf.Tensor[],
  cotangent: (out: tf.Tensor) => { cotangent: tf.Tensor; extras: T },
): { grads: (tf.Tensor | null)[]; extras: T } {
  if (sources.length === 0) {
    // Nothing to differentiate (a frozen net, no input gradient wanted): the by-products only.
    const { cotangent: unused, extras } = tf.tidy(() => {
      const result = cotangent(f());
      return { cotangent: result.cotangent, extras: result.extras };
    });
    unused.dispose();
    return { grads: [], extras: extras as T };
  }
  let extras: T | null = null;
  let seed: tf.Tensor | null = null;
  const root = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const result = cotangent(args[0] as tf.Tensor);
    // Outlive the tidy tfjs runs the custom op's forward function in.
    extras = result.extras.map((t) => tf.keep(t)) as T;
    seed = tf.keep(result.cotangent);
    return { value: tf.zeros([]), gradFunc: () => seed! };
  });
  const { value, grads } = tf
    .engine()
    .gradients(() => root(f()) as tf.Scalar, [...sources], undefined, true);
  value.dispose();
  // The seed is kept, so the tape's own clean-up leaves it; it is never a source's gradient
  // (the root sits on f's output, which is not a source).
  const s = seed as tf.Tensor | null;
  if (s && !grads.includes(s)) s.dispose();
  if (extras === null) throw new Error('vjpFromOutput: the custom gradient op did not run');
  return { grads: grads.map((g) => g ?? null), extras };
}

/**
 * The reversible step of a bijector that only moves entries (Squeeze, Reverse, Shuffle,
 * Reshape), assigned as their `reversibleBackward`: its Jacobian is a permutation matrix P with log-det 0, so ∂/∂x = Pᵀ dy = P⁻¹ dy,
 * the inverse applied to dy. No tape, no forward pass again; such bijectors have no trainable
 * variables.
 */
export function permutationBackward(
  this: Bijector,
  y: tf.Tensor,
  dy: tf.Tensor,
  _dLogDet: tf.Tensor1D,
  inputGradient: boolean,
): ReversibleStepResult {
  return { x: this.inverse(y), dx: inputGradient ? this.inverse(dy) : null, grads: [] };
}
