import * as tf from '@tensorflow/tfjs-core';

/** Gradient of a {@link customGradMulti} op: one gradient per input, from one dy per output. */
export type MultiGradFunc = (dys: tf.Tensor[], saved: tf.Tensor[]) => tf.Tensor[];

/** What the forward function of a {@link customGradMulti} op returns. */
export interface MultiGradOp {
  values: tf.Tensor[];
  gradFunc: MultiGradFunc;
}

/** The engine entry point `tf.customGrad` itself goes through (not in tfjs-core's typings). */
interface EngineWithKernelFunc {
  runKernelFunc?: (params: {
    forwardFunc: (backend: unknown, save: tf.GradSaveFunc) => tf.Tensor[];
    backwardsFunc: (
      dy: tf.Tensor | tf.Tensor[],
      saved: tf.Tensor[],
    ) => Record<string, () => tf.Tensor>;
    inputs: Record<string, tf.Tensor>;
  }) => tf.Tensor | tf.Tensor[];
}

/**
 * `tf.customGrad` for an op with several outputs, or `null` when this tfjs-core does not offer
 * what it needs (the caller then runs its taped version).
 *
 * Why: `tf.customGrad` insists on a single output tensor, while the engine call underneath it
 * (`runKernelFunc` with a forward and a backward function) records any number of outputs on
 * the tape and hands the backward function one dy per output (zeros for an unused output).
 * That call is not part of tfjs-core's typed API, so it is looked up at run time; the tests
 * fail if it disappears, and the ops that use it stay correct (only slower) without it.
 *
 * As with `tf.customGrad`: the forward function runs untaped inside a tidy, `save` keeps the
 * tensors the gradient needs, and the gradient function returns one tensor per input.
 */
export function customGradMulti(
  inputs: tf.Tensor[],
  forward: (save: tf.GradSaveFunc) => MultiGradOp,
): tf.Tensor[] | null {
  const engine = tf.engine() as unknown as EngineWithKernelFunc;
  if (typeof engine.runKernelFunc !== 'function') return null;
  let gradFunc: MultiGradFunc | null = null;
  const outputs = engine.runKernelFunc({
    forwardFunc: (_backend, save) => {
      const op = forward(save);
      gradFunc = op.gradFunc;
      return op.values;
    },
    backwardsFunc: (dy, saved) => {
      const grads = gradFunc!(Array.isArray(dy) ? dy : [dy], saved);
      if (grads.length !== inputs.length) {
        throw new Error(
          `customGradMulti: the gradient function returned ${grads.length} tensors for ${inputs.length} inputs`,
        );
      }
      return Object.fromEntries(grads.map((g, i) => [String(i), () => g]));
    },
    inputs: Object.fromEntries(inputs.map((t, i) => [String(i), t])),
  });
  return Array.isArray(outputs) ? outputs : [outputs];
}

/** Whether {@link customGradMulti} can run on this tfjs-core. */
export function customGradMultiAvailable(): boolean {
  return typeof (tf.engine() as unknown as EngineWithKernelFunc).runKernelFunc === 'function';
}
