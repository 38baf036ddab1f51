import * as tf from '@tensorflow/tfjs-core';
import type { Bijector } from '../bijector.js';
import { ConfigError } from '../errors.js';
import { Chain, forwardSequence } from './chain.js';
import { forwardChannelAffineRun, inverseChannelAffineRun } from './channel-affine.js';
import { reversibleBackwardOf } from './reversible-step.js';

/** Gradients keyed by tfjs variable name (`variable.name`), as `tf.variableGrads` returns them. */
export type VariableGradients = Record<string, tf.Tensor>;

/** What {@link backwardSequence} returns; the caller owns both tensors. */
export interface SequenceBackwardResult {
  /** The sequence's input, recomputed from its output through the inverses. */
  x: tf.Tensor;
  /** ∂loss/∂x, or null when not asked for (`inputGradient: false`). */
  dx: tf.Tensor | null;
}

/** Adds `grad` to `into[name]` (taking ownership of `grad`). */
export function accumulateGradient(into: VariableGradients, name: string, grad: tf.Tensor): void {
  const previous = into[name];
  if (previous === undefined) {
    into[name] = grad;
    return;
  }
  into[name] = tf.add(previous, grad);
  previous.dispose();
  grad.dispose();
}

/**
 * The backward pass of {@link forwardSequence} without its activations (reversible backprop, as
 * in i-RevNet): from the sequence's output `y` and the upstream gradients of the loss with
 * respect to `y` (`dy`) and to the summed log-det (`dLogDet`, `[batch]`), walks the forward
 * units backwards. A bijector with its own reversible step (`ReversibleBackwardForm`: the
 * couplings, which evaluate their net once for both the inverse and the gradient) takes it;
 * for any other unit its input is recomputed from its output with the inverses, then the unit
 * alone runs forward under a gradient tape, and its vector-Jacobian product gives the gradient
 * for its input and its trainable variables. Gradients are added to `into`. Only one unit's
 * activations are alive at a time, so memory does not grow with the sequence's length.
 *
 * `unitSizes` are the forward units (`SequenceResult.unitSizes`): a fused channel-affine run is
 * inverted, recomputed and differentiated as the one product it was in the forward pass. Inputs are left
 * alone; the recomputed input differs from the true one by the inverses' rounding (for
 * well-conditioned flows a few float32 ulps per step).
 */
export function backwardSequence(
  bijectors: readonly Bijector[],
  unitSizes: readonly number[],
  y: tf.Tensor,
  dy: tf.Tensor,
  dLogDet: tf.Tensor1D,
  into: VariableGradients,
  options: { inputGradient?: boolean } = {},
): SequenceBackwardResult {
  const covered = unitSizes.reduce((a, b) => a + b, 0);
  if (covered !== bijectors.length || unitSizes.some((n) => !(Number.isInteger(n) && n >= 1))) {
    throw new ConfigError(
      `backwardSequence: unitSizes [${unitSizes.join(', ')}] do not cover the ${bijectors.length} bijectors`,
    );
  }
  const wantInputGradient = options.inputGradient ?? true;
  let end = bijectors.length;
  let out = y;
  let dOut = dy;
  for (let u = unitSizes.length - 1; u >= 0; u--) {
    const start = end - unitSizes[u]!;
    const unit = bijectors.slice(start, end);
    const needInput = start > 0 || wantInputGradient;
    const own = unit.length === 1 ? reversibleBackwardOf(unit[0]!) : null;
    if (own) {
      const step = own.reversibleBackward(out, dOut, dLogDet, needInput);
      for (const { variable, grad } of step.grads) accumulateGradient(into, variable.name, grad);
      if (out !== y) out.dispose();
      if (dOut !== dy) dOut.dispose();
      out = step.x;
      dOut = step.dx ?? tf.zerosLike(step.x);
      end = start;
      continue;
    }
    const input = tf.tidy(() => {
      const fused = inverseChannelAffineRun(bijectors, start, unit.length, out);
      if (fused) return fused;
      let t = out;
      for (let j = unit.length - 1; j >= 0; j--) t = unit[j]!.inverseAndLogDet(t).x;
      return t;
    });
    const variables = unit.flatMap((b) => Object.values(b.variables()).filter((v) => v.trainable));
    let dIn: tf.Tensor | null = null;
    if (needInput || variables.length > 0) {
      const xs: tf.Tensor[] = needInput ? [input, ...variables] : variables;
      const { value, grads } = tf.engine().gradients(
        () => {
          const result = forwardUnit(bijectors, start, unit.length, input);
          // ⟨y, dy⟩ + ⟨logDet, dLogDet⟩: its gradient is the vector-Jacobian product of both outputs.
          return tf.add(tf.sum(tf.mul(result.y, dOut)), tf.sum(tf.mul(result.logDet, dLogDet)));
        },
        xs,
        undefined,
        true,
      );
      value.dispose();
      const offset = needInput ? 1 : 0;
      if (needInput) dIn = grads[0] ?? tf.zerosLike(input);
      variables.forEach((v, i) => {
        const g = grads[i + offset];
        if (g) accumulateGradient(into, v.name, g);
      });
    }
    if (out !== y) out.dispose();
    if (dOut !== dy) dOut.dispose();
    out = input;
    dOut = dIn ?? tf.zerosLike(input);
    end = start;
  }
  if (!wantInputGradient) {
    if (dOut !== dy) dOut.dispose();
    return { x: out === y ? tf.clone(y) : out, dx: null };
  }
  return { x: out === y ? tf.clone(y) : out, dx: dOut === dy ? tf.clone(dy) : dOut };
}

/** One forward unit: a fused channel-affine run of `count` bijectors, or one bijector. */
function forwardUnit(
  bijectors: readonly Bijector[],
  start: number,
  count: number,
  x: tf.Tensor,
): { y: tf.Tensor; logDet: tf.Tensor1D } {
  if (count === 1) return bijectors[start]!.forwardAndLogDet(x);
  const fused = forwardChannelAffineRun(bijectors.slice(0, start + count), start, x);
  if (!fused || fused.count !== count) {
    throw new ConfigError(
      `backwardSequence: bijectors ${start}..${start + count - 1} no longer fuse as in the forward pass ` +
        '(the op set changed between the forward and the backward pass)',
    );
  }
  return fused.result;
}

/**
 * `tf.variableGrads` for a loss on a sequence's output, by reversible backprop: runs
 * `bijectors` (or a {@link Chain}'s) forward keeping only the output and the log-det, takes
 * the gradient of `head(y, logDet)` by autodiff (the head may use variables of its own, e.g. a
 * learned base distribution), then {@link backwardSequence}. Memory is that of one unit plus
 * the head's, whatever the number of bijectors. Returns the loss value and the gradients of
 * every trainable variable the loss depends on, keyed by tfjs variable name.
 *
 * @param headVariables trainable variables the head uses besides the bijectors'
 */
export function reversibleVariableGrads(
  flow: Chain | readonly Bijector[],
  x: tf.Tensor,
  head: (y: tf.Tensor, logDet: tf.Tensor1D) => tf.Scalar,
  headVariables: readonly tf.Variable[] = [],
): { value: tf.Scalar; grads: VariableGradients } {
  const bijectors = flow instanceof Chain ? flow.bijectors : flow;
  let unitSizes: number[] = [];
  const forward = tf.tidy(() => {
    const result = forwardSequence(bijectors, x);
    unitSizes = result.unitSizes;
    return { y: result.y, logDet: result.logDet };
  });
  const trainableHead = headVariables.filter((v) => v.trainable);
  const { value, grads } = tf
    .engine()
    .gradients(
      () => head(forward.y, forward.logDet),
      [forward.y, forward.logDet, ...trainableHead],
      undefined,
      true,
    );
  const into: VariableGradients = {};
  trainableHead.forEach((v, i) => {
    const g = grads[i + 2];
    if (g) accumulateGradient(into, v.name, g);
  });
  const dy = grads[0] ?? tf.zerosLike(forward.y);
  const dLogDet = (grads[1] ?? tf.zerosLike(forward.logDet)) as tf.Tensor1D;
  const { x: recomputed } = backwardSequence(bijectors, unitSizes, forward.y, dy, dLogDet, into, {
    inputGradient: false,
  });
  tf.dispose([recomputed, dy, dLogDet, forward.y, forward.logDet]);
  return { value: value as tf.Scalar, grads: into };
}
