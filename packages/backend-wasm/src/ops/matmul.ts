import { ShapeError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { fastPathsEnabled } from '../fast-paths.js';
import {
  narrowProductAvailable,
  narrowProductKernel,
  simdKernelsAvailable,
  transposeAProductKernel,
} from '../kernels/simd-kernels.js';
import { transpose2d } from './transpose.js';

/**
 * `a @ b` for 2-D tensors whose gradient transposes explicitly instead of using matMul's
 * `transposeA`/`transposeB` flags, which are far slower on the wasm backend.
 */
export function matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0]) {
    throw new ShapeError(`matMul: cannot multiply [${a.shape}] by [${b.shape}]`);
  }
  const run = tf.customGrad(((aIn: tf.Tensor, bIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const at = aIn as tf.Tensor2D;
    const bt = bIn as tf.Tensor2D;
    save([at, bt]);
    return {
      value: tf.matMul(at, bt),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [as, bs] = saved as [tf.Tensor2D, tf.Tensor2D];
        const g = dy as tf.Tensor2D;
        const t = fastPathsEnabled() ? transpose2d : (m: tf.Tensor2D) => tf.transpose(m);
        return [tf.matMul(g, t(bs)), tf.matMul(t(as), g)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return run(a, b) as tf.Tensor2D;
}

/**
 * `aᵀ @ b` for two tall matrices with the same number of rows (`[n, p]` and `[n, q]`, n large),
 * e.g. a filter gradient summed over every pixel. On wasm with hierglow's SIMD kernels loaded,
 * one call of `HierglowTransposeAProduct` (kernels/simd-kernels.ts, no transpose, no packing);
 * otherwise through the plain matMul kernel (on wasm faster than `transposeA`). XNNPACK repacks
 * the right-hand operand on every call, which costs more per value than the transpose of the
 * other (see {@link transpose2d}): so the NARROWER matrix goes on the right, the wider
 * one is transposed, and a transpose of the small `[q, p]` product restores the order when
 * needed. Not differentiable (it is meant for gradient functions).
 */
export function matMulTransposeA(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[0] !== b.shape[0]) {
    throw new ShapeError(`matMulTransposeA: cannot multiply [${a.shape}]ᵀ by [${b.shape}]`);
  }
  if (simdKernelsAvailable() && a.dtype === 'float32' && b.dtype === 'float32') {
    return transposeAProductKernel(a, b, false);
  }
  return tf.tidy(() => {
    if (a.shape[1] >= b.shape[1]) return tf.matMul(transpose2d(a), b);
    return tf.transpose(tf.matMul(transpose2d(b), a)) as tf.Tensor2D;
  });
}

/**
 * Sum over the rows of a tall `[n, q]` matrix (shape `[q]`). On wasm a reduction over a
 * non-innermost axis transposes first, and the rank-2 transpose is the slow one (see
 * {@link transpose2d}); viewed as `[2, n/2, q]` the same sum avoids it.
 */
export function sumRows(m: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const [n, q] = m.shape;
    if (n % 2 !== 0 || n < 4) return tf.sum(m, 0) as tf.Tensor1D;
    return tf.sum(tf.reshape(m, [2, n / 2, q]), [0, 1]) as tf.Tensor1D;
  });
}

/**
 * `x @ w + b` for a tall `x` `[n, p]`, a small `w` `[p, q]` and `b` `[q]`: one matrix product
 * with bias forward (on wasm for p, q ≤ 16 hierglow's `HierglowNarrowProduct`, else
 * `_FusedMatMul`), and a gradient that avoids the `transposeA` / `transposeB` flags:
 * `dx = dy @ wᵀ` (wᵀ is small), `dw = xᵀ @ dy` ({@link matMulTransposeA}), `db = Σ_rows dy`
 * ({@link sumRows}).
 */
export function matMulBias(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D {
  if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[0] || b.rank !== 1) {
    throw new ShapeError(`matMulBias: cannot multiply [${x.shape}] by [${w.shape}]`);
  }
  if (b.shape[0] !== w.shape[1]) {
    throw new ShapeError(`matMulBias: bias [${b.shape}] does not match [${w.shape}]`);
  }
  const run = tf.customGrad(((
    xIn: tf.Tensor,
    wIn: tf.Tensor,
    bIn: tf.Tensor,
    save: tf.GradSaveFunc,
  ) => {
    const xt = xIn as tf.Tensor2D;
    const wt = wIn as tf.Tensor2D;
    save([xt, wt]);
    const [p, q] = wt.shape;
    // Tiny channel mixes (a Glow step's 4-16 channels) skip XNNPACK's per-matrix operator.
    const narrow = narrowProductAvailable(p, q);
    return {
      value: narrow
        ? narrowProductKernel(xt, wt, bIn as tf.Tensor1D)
        : tf.fused.matMul({ a: xt, b: wt, bias: bIn }),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
        const g = dy as tf.Tensor2D;
        const wT = tf.transpose(ws) as tf.Tensor2D;
        const dx = narrow ? narrowProductKernel(g, wT, null) : tf.matMul(g, wT);
        return [dx, matMulTransposeA(xs, g), sumRows(g)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return run(x, w, b) as tf.Tensor2D;
}
