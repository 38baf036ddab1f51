import type * as tf from '@tensorflow/tfjs-core';

/** Padding of {@link FusedOps.conv2d}: `same` keeps height and width, `valid` shrinks them. */
export type ConvPadding = 'same' | 'valid';

/** Activation applied by {@link FusedOps.conv2dBias}. */
export type ConvActivation = 'linear' | 'relu';

/**
 * The few tensor operations whose speed decides a flow's speed, as one replaceable set: the
 * bijectors and coupling nets of this package call them, never a backend directly.
 *
 * The plain set (`PLAIN_OPS`) computes each one with stock tfjs ops, on any backend. A runtime package
 * (for example `@hierglow/backend-wasm`) installs its own set with `installFusedOps`; that
 * set is used only while its {@link FusedOps.activeOn} accepts the active tfjs backend, so the
 * same model runs on any backend with or without it.
 * Every op of an installed set must compute the same function as the plain one (to float32
 * rounding) with gradients to the same inputs: the runtime package's tests compare the two.
 */
export interface FusedOps {
  /**
   * Whether this set computes on the tfjs backend named `backend` right now; consulted on every
   * call, so a set can also step aside while it is switched off. False sends every caller to
   * the plain ops.
   */
  activeOn(backend: string): boolean;
  /**
   * Whether callers should apply the algebraic rewrites that only pay off with fused kernels:
   * consecutive channel-affine bijectors run as one product (`Chain`, the Glow scale stack) and
   * a coupling net's ActNorms folded into its convolutions.
   */
  readonly fuse: boolean;
  /** `a @ b` for 2-D tensors. */
  matMul(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D;
  /** `x @ w + b` for a tall `x` `[n, p]`, a small `w` `[p, q]` and `b` `[q]`. */
  matMulBias(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): tf.Tensor2D;
  /** 2-D convolution, NHWC, stride 1, dilation 1, filter `[kh, kw, in, out]`. */
  conv2d(x: tf.Tensor4D, filter: tf.Tensor4D, padding?: ConvPadding): tf.Tensor4D;
  /** `activation(conv2d(x, filter) + bias)`. */
  conv2dBias(
    x: tf.Tensor4D,
    filter: tf.Tensor4D,
    bias: tf.Tensor1D,
    padding?: ConvPadding,
    activation?: ConvActivation,
  ): tf.Tensor4D;
  /** With `s = exp(factor · logs)`: `w ⊙ s` (s along the last axis) and `b ⊙ s`. */
  scaleColumns(
    w: tf.Tensor,
    b: tf.Tensor1D,
    logs: tf.Tensor1D,
    factor: number,
  ): { w: tf.Tensor; b: tf.Tensor1D };
  /**
   * The LU-parametrised 1x1 convolution weight `P L U` (spec 3.3b), or null where this set has
   * no faster way than the caller's own taped ops (the plain set always returns null).
   */
  luWeight(
    p: tf.Tensor2D,
    lower: tf.Tensor2D,
    upper: tf.Tensor2D,
    logS: tf.Tensor1D,
    signS: tf.Tensor1D,
  ): tf.Tensor2D | null;
  /**
   * The element-wise half of the affine coupling (spec 3.3c): with `h` the net's output (shift
   * and raw scale interleaved on the last axis), `s = σ(h[..., 1::2] + 2)`,
   * `yb = (xb + h[..., 0::2]) · s` and `logDet[n] = Σ log s` over all but the batch axis.
   */
  affineCoupling(xb: tf.Tensor, h: tf.Tensor): { yb: tf.Tensor; logDet: tf.Tensor1D };
  /**
   * The reversible backward step of {@link affineCoupling} from its output (no gradient of its
   * own: it is a backward pass): with `s` and the shift from `h` as there, the input half
   * `xb = yb / s − shift`, `dxb = dyb · s` (also ∂/∂shift) and `dh` interleaving ∂/∂shift with
   * ∂/∂raw = `(dyb · yb + dLogDet[n]) · (1 − s)`, the gradient of ⟨yb, dyb⟩ + ⟨logDet, dLogDet⟩.
   */
  affineCouplingInverseGrad(
    yb: tf.Tensor,
    h: tf.Tensor,
    dyb: tf.Tensor,
    dLogDet: tf.Tensor1D,
  ): { xb: tf.Tensor; dxb: tf.Tensor; dh: tf.Tensor };
  /** `[first half, second half]` of the last axis (even length). */
  splitChannelHalves(x: tf.Tensor): [tf.Tensor, tf.Tensor];
  /** `concat([a, b], lastAxis)` for two tensors of the same shape. */
  concatChannelHalves(a: tf.Tensor, b: tf.Tensor): tf.Tensor;
  /** Even and odd channels of the last axis: `[x[..., 0::2], x[..., 1::2]]`. */
  deinterleaveChannels(x: tf.Tensor): [tf.Tensor, tf.Tensor];
}
