import * as tf from '@tensorflow/tfjs-core';
import type { Bijector, ForwardResult } from '../bijector.js';
import { invert } from '../linalg.js';
import { fusedOps } from '../ops/op-registry.js';

/**
 * A bijector as an affine map of the last axis, `y[..., :] = x[..., :] @ matrix + bias`, with its
 * log-det per example for one input shape. Tensors are differentiable in the bijector's
 * variables.
 */
export interface ChannelAffine {
  /**
   * `[C, C]`: row i holds input channel i's contribution to every output channel; or `[C]`,
   * the diagonal of a diagonal matrix (a per-channel scale).
   */
  matrix: tf.Tensor2D | tf.Tensor1D;
  /** `[C]`, or null for a linear map. */
  bias: tf.Tensor1D | null;
  /** `[batch]`. */
  logDet: tf.Tensor1D;
}

/**
 * Implemented by bijectors that are affine maps of the channels (ActNorm, the 1x1 convolution)
 * so that a composite can fuse a run of them. Not part of the {@link Bijector} contract: a
 * bijector that does not implement it is simply run on its own.
 */
export interface ChannelAffineForm {
  /**
   * This bijector as an affine map of the last axis for inputs of `shape`, or null when it
   * cannot say so right now (an ActNorm during its data-dependent initialisation pass must see
   * its input).
   */
  channelAffine(shape: readonly number[]): ChannelAffine | null;
}

/** The bijector's {@link ChannelAffineForm} for `shape`, or null when it has none. */
function channelAffineOf(bijector: Bijector, shape: readonly number[]): ChannelAffine | null {
  const form = (bijector as Partial<ChannelAffineForm>).channelAffine;
  return typeof form === 'function' ? form.call(bijector, shape) : null;
}

/**
 * Runs the bijectors from `start` on as one matrix product while they are affine maps of the
 * last axis ({@link ChannelAffineForm}), e.g. a Glow step's ActNorm and invertible 1x1
 * conv: `y = x @ (M₁ M₂ …) + b`, the small `[C, C]` products formed first. Returns the result
 * and how many bijectors it covered, or `null` (run them one by one) when fewer than two in a
 * row are affine or the op set in force does not fuse (the plain ops never do: see
 * `FusedOps.fuse`).
 *
 * Why: ActNorm alone is a broadcast multiply and add over the whole activation, forward and
 * again backward (plus two reductions for its gradients), and the 1x1 conv a matrix product;
 * fused they are one product with bias forward and three small-output kernels backward. The
 * result equals the layer-by-layer one within float32 rounding (the order of the products
 * changes), which the tests check.
 */
export function forwardChannelAffineRun(
  bijectors: readonly Bijector[],
  start: number,
  x: tf.Tensor,
): { result: ForwardResult; count: number } | null {
  const ops = fusedOps();
  if (!ops.fuse || x.rank < 2) return null;
  const forms: ChannelAffine[] = [];
  try {
    // In order: a bijector's form is asked for x's shape, which is its input shape only when
    // every one before it in the run is affine (shape-preserving). So an affine bijector
    // followed by a non-affine one builds a form that is then dropped (a few small kernels).
    for (let i = start; i < bijectors.length; i++) {
      const form = channelAffineOf(bijectors[i]!, x.shape);
      if (!form) break;
      forms.push(form);
    }
    if (forms.length < 2) return null;
    const result = tf.tidy(() => {
      const c = x.shape[x.rank - 1]!;
      const { matrix, bias, logDet } = composeForms(forms, c);
      const rows = tf.reshape(x, [-1, c]) as tf.Tensor2D;
      const y = ops.matMulBias(rows, matrix, bias);
      return { y: tf.reshape(y, x.shape), logDet };
    });
    return { result, count: forms.length };
  } finally {
    for (const form of forms) tf.dispose([form.matrix, form.bias ?? [], form.logDet]);
  }
}

/**
 * The input of a run that {@link forwardChannelAffineRun} fused (`count` bijectors from
 * `start`), from its output: `x = (y − b) M⁻¹` as one product, M⁻¹ in float64 from the values
 * of the very product M the forward pass multiplied by. Or null where the run does not fuse now
 * (or M is singular): then invert the bijectors one by one. Not differentiable (reversible
 * backprop's recomputation runs outside the tape); reads the `[C, C]` product back.
 *
 * Why: one by one, an ActNorm → 1×1-conv run's inverse is a subtraction, a division and a
 * product over the whole activation; fused it is one product, like its forward pass.
 */
export function inverseChannelAffineRun(
  bijectors: readonly Bijector[],
  start: number,
  count: number,
  y: tf.Tensor,
): tf.Tensor | null {
  const ops = fusedOps();
  if (!ops.fuse || y.rank < 2 || count < 2) return null;
  const forms: ChannelAffine[] = [];
  try {
    for (let i = start; i < start + count; i++) {
      const form = channelAffineOf(bijectors[i]!, y.shape);
      if (!form) return null;
      forms.push(form);
    }
    const c = y.shape[y.rank - 1]!;
    const { m, b } = tf.tidy(() => {
      const { matrix, bias } = composeForms(forms, c);
      return { m: matrix.dataSync(), b: bias.dataSync() };
    });
    let inverse: Float64Array;
    try {
      inverse = invert(m, c);
    } catch {
      return null;
    }
    // x = y M⁻¹ + (−b M⁻¹)
    const shift = new Float32Array(c);
    for (let j = 0; j < c; j++) {
      let acc = 0;
      for (let i = 0; i < c; i++) acc -= b[i]! * inverse[i * c + j]!;
      shift[j] = acc;
    }
    return tf.tidy(() => {
      const rows = tf.reshape(y, [-1, c]) as tf.Tensor2D;
      const x = ops.matMulBias(
        rows,
        tf.tensor2d(Float32Array.from(inverse), [c, c]),
        tf.tensor1d(shift),
      );
      return tf.reshape(x, y.shape);
    });
  } finally {
    for (const form of forms) tf.dispose([form.matrix, form.bias ?? [], form.logDet]);
  }
}

/** The forms' composition `x ↦ x M + b` (M full `[C, C]`, b `[C]`) with the summed log-det. */
function composeForms(
  forms: readonly ChannelAffine[],
  c: number,
): { matrix: tf.Tensor2D; bias: tf.Tensor1D; logDet: tf.Tensor1D } {
  let { matrix, bias, logDet } = forms[0]!;
  for (const form of forms.slice(1)) {
    if (bias) bias = times(bias, form.matrix);
    if (form.bias) bias = bias ? (tf.add(bias, form.bias) as tf.Tensor1D) : form.bias;
    matrix = compose(matrix, form.matrix);
    logDet = tf.add(logDet, form.logDet) as tf.Tensor1D;
  }
  const full = matrix.rank === 2 ? matrix : tf.mul(tf.eye(c), tf.reshape(matrix, [c, 1]));
  return {
    matrix: full as tf.Tensor2D,
    bias: (bias ?? tf.zeros([c])) as tf.Tensor1D,
    logDet: logDet as tf.Tensor1D,
  };
}

type Matrix = tf.Tensor2D | tf.Tensor1D;

/** `M₁ M₂`, either of them possibly diagonal (`[C]`). */
function compose(m1: Matrix, m2: Matrix): Matrix {
  if (m1.rank === 1 && m2.rank === 1) return tf.mul(m1, m2) as tf.Tensor1D;
  if (m1.rank === 1) return tf.mul(tf.reshape(m1, [-1, 1]), m2) as tf.Tensor2D; // scales rows
  if (m2.rank === 1) return tf.mul(m1, m2) as tf.Tensor2D; // scales columns
  return fusedOps().matMul(m1 as tf.Tensor2D, m2 as tf.Tensor2D);
}

/**
 * `b M` for a bias row `b` `[C]`. For a full M a column-weighted sum rather than a `[1, C]`
 * product: wasm's `_FusedMatMul` checks the rank of the bias's underlying data, which a
 * reshaped product would leave at 3.
 */
function times(b: tf.Tensor1D, m: Matrix): tf.Tensor1D {
  if (m.rank === 1) return tf.mul(b, m) as tf.Tensor1D;
  return tf.sum(tf.mul(tf.reshape(b, [-1, 1]), m), 0) as tf.Tensor1D;
}
