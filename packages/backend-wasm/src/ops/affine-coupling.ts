import { PLAIN_OPS, ShapeError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import {
  affineCouplingGradKernel,
  affineCouplingInverseGradKernel,
  affineCouplingKernel,
  affineCouplingKernelAvailable,
} from '../kernels/simd-kernels.js';
import { deinterleaveChannels } from './channels.js';
import { customGradMulti } from './custom-grad.js';

/** Offset added to the raw scale before the sigmoid, so s = σ(2) ≈ 0.8808 at r = 0 (spec 3.3c). */
export const SCALE_OFFSET = 2;

/** Smallest positive normal float32: log(s) is taken of max(s, this), see below. */
const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/**
 * The element-wise half of the affine coupling (spec 3.3c) as one op with a hand-written
 * gradient: with `h` the net's output (shift and raw scale interleaved on the last axis),
 * `s = σ(h[..., 1::2] + 2)`, `yb = (xb + h[..., 0::2]) · s` and `logDet[n] = Σ log s` over
 * everything but the batch axis.
 *
 * Why: taped op by op, this part is ~16 kernels forward and ~25 backward per coupling, most of
 * them on activation-sized tensors, and `log σ` went through `Softplus`, which tfjs-backend-wasm
 * runs as a scalar loop, far slower than its vectorised `Sigmoid`. Here the forward pass
 * reuses `s` for the log-det (a vectorised `Log`), and the backward pass is seven kernels:
 *
 *   g = dyb · s   (= ∂/∂xb = ∂/∂shift),   ∂/∂raw = (g · (xb + shift) + dLogDet[n]) · (1 − s),
 *
 * using `d log σ(z)/dz = 1 − σ(z)` and `dσ/dz = σ(1 − σ)`. The values agree with the taped
 * version within float32 rounding except where σ underflows (raw scale below about −89, a layer
 * multiplying by less than 1e-38): there `log` is taken of the smallest normal float32 instead
 * of returning −∞.
 *
 * @param xb the transformed half, `[..., C/2]`
 * @param h the coupling net's output on the other half, `[..., C]`
 */
export function affineCouplingForward(
  xb: tf.Tensor,
  h: tf.Tensor,
): { yb: tf.Tensor; logDet: tf.Tensor1D } {
  const half = xb.shape[xb.rank - 1]!;
  if (h.rank !== xb.rank || !tf.util.arraysEqual(h.shape, [...xb.shape.slice(0, -1), 2 * half])) {
    throw new ShapeError(
      `affineCouplingForward: net output [${h.shape}] does not match the half [${xb.shape}] (expected [${[...xb.shape.slice(0, -1), 2 * half]}])`,
    );
  }
  const batch = xb.shape[0]!;
  if (affineCouplingKernelAvailable(xb) && h.dtype === 'float32') {
    // One kernel each way on wasm (`HierglowAffineCoupling`, `HierglowAffineCouplingGrad`).
    const fused = customGradMulti([xb, h], (save) => {
      const [yb, s, u, logDet] = affineCouplingKernel(xb, h);
      save([s!, u!]);
      return {
        values: [yb!, logDet!],
        gradFunc: ([dyb, dLogDet], [ss, us]) => affineCouplingGradKernel(dyb!, dLogDet!, ss!, us!),
      };
    });
    if (fused) return { yb: fused[0]!, logDet: fused[1] as tf.Tensor1D };
  }
  const outputs = customGradMulti([xb, h], (save) => {
    const { s, u, yb, logDet } = forwardValues(xb, h);
    save([s, u]);
    return {
      values: [yb, logDet],
      gradFunc: ([dyb, dLogDet], [ss, us]) => {
        const g = tf.mul(dyb!, ss!);
        const perExample = tf.reshape(dLogDet!, [batch, ...new Array<number>(xb.rank - 1).fill(1)]);
        const dRaw = tf.mul(tf.add(tf.mul(g, us!), perExample), tf.sub(1, ss!));
        return [g, interleaveChannels(g, dRaw)];
      },
    };
  });
  if (outputs) return { yb: outputs[0]!, logDet: outputs[1] as tf.Tensor1D };
  // Without the engine entry point: flow-layers' plain op, taped op by op.
  return PLAIN_OPS.affineCoupling(xb, h);
}

/**
 * Reversible backprop's step of {@link affineCouplingForward} from its output (flow-layers'
 * `FusedOps.affineCouplingInverseGrad`): `xb`, `dxb` and `dh` in one kernel on wasm, where the
 * plain op takes about a dozen activation-sized kernels; flow-layers' plain op elsewhere.
 */
export function affineCouplingInverseGrad(
  yb: tf.Tensor,
  h: tf.Tensor,
  dyb: tf.Tensor,
  dLogDet: tf.Tensor1D,
): { xb: tf.Tensor; dxb: tf.Tensor; dh: tf.Tensor } {
  if (
    affineCouplingKernelAvailable(yb) &&
    [h, dyb, dLogDet].every((t) => t.dtype === 'float32') &&
    tf.util.arraysEqual(dyb.shape, yb.shape) &&
    tf.util.arraysEqual(h.shape, [...yb.shape.slice(0, -1), 2 * yb.shape[yb.rank - 1]!]) &&
    tf.util.arraysEqual(dLogDet.shape, [yb.shape[0]!])
  ) {
    const [xb, dxb, dh] = affineCouplingInverseGradKernel(yb, h, dyb, dLogDet);
    return { xb, dxb, dh };
  }
  return PLAIN_OPS.affineCouplingInverseGrad(yb, h, dyb, dLogDet);
}

function forwardValues(
  xb: tf.Tensor,
  h: tf.Tensor,
): { s: tf.Tensor; u: tf.Tensor; yb: tf.Tensor; logDet: tf.Tensor1D } {
  const [shift, raw] = deinterleaveChannels(h);
  const s = tf.sigmoid(tf.add(raw, SCALE_OFFSET));
  const u = tf.add(xb, shift);
  const logS = tf.log(tf.maximum(s, FLOAT32_MIN_NORMAL));
  const logDet = tf.sum(tf.reshape(logS, [xb.shape[0]!, -1]), 1) as tf.Tensor1D;
  return { s, u, yb: tf.mul(u, s), logDet };
}

/** Inverse of `deinterleaveChannels`: `out[..., 2i] = even[..., i]`, `out[..., 2i + 1] = odd[..., i]`. */
function interleaveChannels(even: tf.Tensor, odd: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const half = even.shape[even.rank - 1]!;
    const rows = even.size / half;
    // [2, rows, C/2] → [rows, C/2, 2]: one concat of contiguous blocks, one transpose.
    const stacked = tf.concat([
      tf.reshape(even, [1, rows, half]),
      tf.reshape(odd, [1, rows, half]),
    ]);
    return tf.reshape(tf.transpose(stacked, [1, 2, 0]), [...even.shape.slice(0, -1), 2 * half]);
  });
}
