import * as tf from '@tensorflow/tfjs-core';
import { heapOffset, simd, simdKernelsAvailable, simdModuleLoaded } from './simd-module.js';
import type { WasmKernelArgs } from './wasm-backend.js';

/**
 * Element-wise and bookkeeping passes on hierglow's SIMD kernels, each one pass where tfjs
 * would make several:
 *
 * - `HierglowReluGrad`: the gradient through a ReLU from its output;
 * - `HierglowAffineCoupling` / `HierglowAffineCouplingGrad`: the affine coupling's element-wise
 *   half and its gradient, and `HierglowAffineCouplingInverseGrad`: reversible backprop's step of
 *   it from its output (ops/affine-coupling.ts);
 * - `HierglowSplitHalves` / `HierglowJoinHalves`: channel halves (ops/channels.ts);
 * - `HierglowAdamaxUpdate`: one Adamax update of many variables (glow's optimizer);
 * - `HierglowAllFinite`: a finite check of many tensors, in place;
 * - the SIMD passes of ops/scale-columns.ts's JavaScript kernels.
 */

export const RELU_GRAD = 'HierglowReluGrad';
export const ADAMAX_UPDATE = 'HierglowAdamaxUpdate';
export const SPLIT_HALVES = 'HierglowSplitHalves';
export const JOIN_HALVES = 'HierglowJoinHalves';
export const AFFINE_COUPLING = 'HierglowAffineCoupling';
export const AFFINE_COUPLING_GRAD = 'HierglowAffineCouplingGrad';
export const AFFINE_COUPLING_INVERSE_GRAD = 'HierglowAffineCouplingInverseGrad';
export const ALL_FINITE = 'HierglowAllFinite';

/**
 * `dy` where `y > 0`, else 0: the gradient through a ReLU from its output `y`, in one pass (the
 * stock route is `dy · step(y)`, which differs only in giving −0, or NaN for a non-finite dy,
 * where y ≤ 0). Not differentiable; check {@link simdKernelsAvailable} first.
 */
export function reluGradKernel(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(RELU_GRAD, { dy, y }) as tf.Tensor;
}

function reluGradKernelFunc(args: WasmKernelArgs): tf.TensorInfo {
  const { dy, y } = args.inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const backend = args.backend;
  if (!tf.util.arraysEqual(dy.shape, y.shape) || dy.dtype !== 'float32' || y.dtype !== 'float32') {
    throw new Error(
      `${RELU_GRAD}: needs float32 tensors of one shape, got [${dy.shape}] and [${y.shape}]`,
    );
  }
  const out = backend.makeOutput([...y.shape], 'float32');
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  simd().relu_grad(offset(dy), offset(y), offset(out), tf.util.sizeFromShape(y.shape));
  return out;
}

/** Hyper-parameters of {@link adamaxUpdateKernel}: PyTorch Adamax's, and this update's step size. */
export interface AdamaxUpdateAttrs {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** `lr / (1 − β1^t)` for this update. */
  stepSize: number;
}

/**
 * One Adamax update of many variables in one kernel call (csrc `adamax_update`, one pass per
 * variable): for each i, from θ_i, g_i and the moments m_i, u_i, the new θ_i, m_i, u_i (new
 * tensors, in that order: all θ, then all m, then all u). Float32 operation by operation in
 * the order of glow's tfjs-op update, so bit-identical to it. Not differentiable; check
 * {@link simdKernelsAvailable} first.
 */
export function adamaxUpdateKernel(
  theta: readonly tf.Tensor[],
  grads: readonly tf.Tensor[],
  m: readonly tf.Tensor[],
  u: readonly tf.Tensor[],
  attrs: AdamaxUpdateAttrs,
): { theta: tf.Tensor[]; m: tf.Tensor[]; u: tf.Tensor[] } {
  const n = theta.length;
  const inputs: tf.NamedTensorMap = {};
  for (let i = 0; i < n; i++) {
    inputs[`t${i}`] = theta[i]!;
    inputs[`g${i}`] = grads[i]!;
    inputs[`m${i}`] = m[i]!;
    inputs[`u${i}`] = u[i]!;
  }
  const out = tf.engine().runKernel(ADAMAX_UPDATE, inputs, {
    ...attrs,
    count: n,
  } as unknown as tf.NamedAttrMap) as tf.Tensor[];
  return { theta: out.slice(0, n), m: out.slice(n, 2 * n), u: out.slice(2 * n) };
}

function adamaxUpdateKernelFunc(
  args: WasmKernelArgs<AdamaxUpdateAttrs & { count: number }>,
): tf.TensorInfo[] {
  const { inputs, attrs, backend } = args;
  const n = attrs.count;
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  const outs: tf.TensorInfo[][] = [[], [], []];
  for (let i = 0; i < n; i++) {
    const group = ['t', 'g', 'm', 'u'].map((k) => inputs[`${k}${i}`]!);
    const shape = group[0]!.shape;
    if (group.some((t) => t.dtype !== 'float32' || !tf.util.arraysEqual(t.shape, shape))) {
      throw new Error(`${ADAMAX_UPDATE}: variable ${i} needs float32 θ, g, m, u of one shape`);
    }
    const [t, m, u] = [0, 1, 2].map(() => backend.makeOutput([...shape], 'float32'));
    outs[0]!.push(t!);
    outs[1]!.push(m!);
    outs[2]!.push(u!);
    simd().adamax_update(
      ...group.map(offset),
      offset(t!),
      offset(m!),
      offset(u!),
      tf.util.sizeFromShape(shape),
      attrs.beta1,
      1 - attrs.beta1,
      attrs.beta2,
      attrs.eps,
      attrs.weightDecay,
      attrs.stepSize,
    );
  }
  return outs.flat();
}

/**
 * `[x[..., :C/2], x[..., C/2:]]` for a float32 `x` with an even last axis, one pass (tfjs would
 * reshape, transpose and split). Not differentiable; check {@link simdKernelsAvailable} first.
 */
export function splitHalvesKernel(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(SPLIT_HALVES, { x }) as unknown as [tf.Tensor, tf.Tensor];
}

/** `concat([a, b], lastAxis)` for float32 tensors of one shape, one pass. See {@link splitHalvesKernel}. */
export function joinHalvesKernel(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(JOIN_HALVES, { a, b }) as tf.Tensor;
}

function splitHalvesKernelFunc({ inputs, backend }: WasmKernelArgs): tf.TensorInfo[] {
  const { x } = inputs as { x: tf.TensorInfo };
  const c = x.shape[x.shape.length - 1]!;
  if (x.dtype !== 'float32' || x.shape.length < 1 || c % 2 !== 0) {
    throw new Error(
      `${SPLIT_HALVES}: needs a float32 tensor with an even last axis, got [${x.shape}]`,
    );
  }
  const shape = [...x.shape.slice(0, -1), c / 2];
  const [a, b] = [backend.makeOutput(shape, 'float32'), backend.makeOutput(shape, 'float32')];
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  simd().split_halves(offset(x), offset(a), offset(b), tf.util.sizeFromShape(x.shape) / c, c / 2);
  return [a, b];
}

function joinHalvesKernelFunc({ inputs, backend }: WasmKernelArgs): tf.TensorInfo {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || !tf.util.arraysEqual(a.shape, b.shape)) {
    throw new Error(
      `${JOIN_HALVES}: needs float32 tensors of one shape, got [${a.shape}] and [${b.shape}]`,
    );
  }
  const half = a.shape[a.shape.length - 1]!;
  const x = backend.makeOutput([...a.shape.slice(0, -1), 2 * half], 'float32');
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  simd().join_halves(offset(a), offset(b), offset(x), tf.util.sizeFromShape(a.shape) / half, half);
  return x;
}

/**
 * Whether {@link affineCouplingKernel} takes a half `xb` of this shape: the kernels available,
 * float32, and a multiple of 4 values per example.
 */
export function affineCouplingKernelAvailable(xb: tf.Tensor): boolean {
  return (
    simdKernelsAvailable() &&
    xb.dtype === 'float32' &&
    xb.rank >= 2 &&
    (xb.size / xb.shape[0]!) % 4 === 0
  );
}

/**
 * The affine coupling's element-wise half (see ops/affine-coupling.ts) in one pass: from the
 * half `xb` and the net output `h` (shift and raw scale interleaved), `[yb, s, u, logDet]` with
 * `s = σ(raw + 2)`, `u = xb + shift`, `yb = u·s`, `logDet[n] = Σ log s`. Its own e^x and ln x
 * (Cephes' single-precision polynomials, ~1 ulp). Not differentiable; check
 * {@link affineCouplingKernelAvailable} first.
 */
export function affineCouplingKernel(xb: tf.Tensor, h: tf.Tensor): tf.Tensor[] {
  return tf.engine().runKernel(AFFINE_COUPLING, { xb, h }) as unknown as tf.Tensor[];
}

/** Its gradient: `[∂/∂xb, ∂/∂h]` from `dyb`, `dLogDet` and the saved `s` and `u`. */
export function affineCouplingGradKernel(
  dyb: tf.Tensor,
  dLogDet: tf.Tensor,
  s: tf.Tensor,
  u: tf.Tensor,
): [tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(AFFINE_COUPLING_GRAD, { dyb, dLogDet, s, u }) as unknown as [
    tf.Tensor,
    tf.Tensor,
  ];
}

function affineCouplingKernelFunc({ inputs, backend }: WasmKernelArgs): tf.TensorInfo[] {
  const { xb, h } = inputs as { xb: tf.TensorInfo; h: tf.TensorInfo };
  const half = xb.shape[xb.shape.length - 1]!;
  const batch = xb.shape[0]!;
  const per = tf.util.sizeFromShape(xb.shape) / batch;
  const ok =
    xb.dtype === 'float32' &&
    h.dtype === 'float32' &&
    per % 4 === 0 &&
    tf.util.arraysEqual(h.shape, [...xb.shape.slice(0, -1), 2 * half]);
  if (!ok) {
    throw new Error(
      `${AFFINE_COUPLING}: needs float32 xb [batch, ..., C/2] (a multiple of 4 values per example) and h [batch, ..., C], got [${xb.shape}] and [${h.shape}]`,
    );
  }
  const outs = [0, 1, 2].map(() => backend.makeOutput([...xb.shape], 'float32'));
  const logDet = backend.makeOutput([batch], 'float32');
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  simd().affine_coupling(offset(xb), offset(h), ...outs.map(offset), offset(logDet), batch, per);
  return [...outs, logDet];
}

function affineCouplingGradKernelFunc({ inputs, backend }: WasmKernelArgs): tf.TensorInfo[] {
  const { dyb, dLogDet, s, u } = inputs as Record<string, tf.TensorInfo>;
  const batch = s!.shape[0]!;
  const per = tf.util.sizeFromShape(s!.shape) / batch;
  const half = s!.shape[s!.shape.length - 1]!;
  const ok =
    [dyb, dLogDet, s, u].every((t) => t!.dtype === 'float32') &&
    per % 4 === 0 &&
    [dyb, u].every((t) => tf.util.arraysEqual(t!.shape, s!.shape)) &&
    tf.util.sizeFromShape(dLogDet!.shape) === batch;
  if (!ok) throw new Error(`${AFFINE_COUPLING_GRAD}: inputs do not match the forward pass`);
  const dxb = backend.makeOutput([...s!.shape], 'float32');
  const dh = backend.makeOutput([...s!.shape.slice(0, -1), 2 * half], 'float32');
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  simd().affine_coupling_grad(
    offset(dyb!),
    offset(dLogDet!),
    offset(s!),
    offset(u!),
    offset(dxb),
    offset(dh),
    batch,
    per,
  );
  return [dxb, dh];
}

/**
 * `[xb, dxb, dh]` from the output half `yb`, the net output `h` and the upstream `dyb`,
 * `dLogDet` (flow-layers' `FusedOps.affineCouplingInverseGrad`) in one pass. Not
 * differentiable; check {@link affineCouplingKernelAvailable} (with `yb`) first.
 */
export function affineCouplingInverseGradKernel(
  yb: tf.Tensor,
  h: tf.Tensor,
  dyb: tf.Tensor,
  dLogDet: tf.Tensor,
): [tf.Tensor, tf.Tensor, tf.Tensor] {
  return tf.engine().runKernel(AFFINE_COUPLING_INVERSE_GRAD, {
    yb,
    h,
    dyb,
    dLogDet,
  }) as unknown as [tf.Tensor, tf.Tensor, tf.Tensor];
}

function affineCouplingInverseGradKernelFunc({ inputs, backend }: WasmKernelArgs): tf.TensorInfo[] {
  const { yb, h, dyb, dLogDet } = inputs as Record<string, tf.TensorInfo>;
  const batch = yb!.shape[0]!;
  const per = tf.util.sizeFromShape(yb!.shape) / batch;
  const half = yb!.shape[yb!.shape.length - 1]!;
  const ok =
    [yb, h, dyb, dLogDet].every((t) => t!.dtype === 'float32') &&
    per % 4 === 0 &&
    tf.util.arraysEqual(dyb!.shape, yb!.shape) &&
    tf.util.arraysEqual(h!.shape, [...yb!.shape.slice(0, -1), 2 * half]) &&
    tf.util.sizeFromShape(dLogDet!.shape) === batch;
  if (!ok) {
    throw new Error(
      `${AFFINE_COUPLING_INVERSE_GRAD}: needs float32 yb and dyb [batch, ..., C/2] (a multiple of 4 values per example), h [batch, ..., C] and dLogDet [batch], got [${yb!.shape}], [${h!.shape}], [${dyb!.shape}], [${dLogDet!.shape}]`,
    );
  }
  const xb = backend.makeOutput([...yb!.shape], 'float32');
  const dxb = backend.makeOutput([...yb!.shape], 'float32');
  const dh = backend.makeOutput([...h!.shape], 'float32');
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  simd().affine_coupling_inverse_grad(
    offset(yb!),
    offset(h!),
    offset(dyb!),
    offset(dLogDet!),
    offset(xb),
    offset(dxb),
    offset(dh),
    batch,
    per,
  );
  return [xb, dxb, dh];
}

/**
 * The SIMD passes of ops/scale-columns.ts's JavaScript kernels, or null before the kernels load
 * (those kernels then loop in JavaScript): `scaleColumns(w, s, out, rows, c)` and
 * `scaleColumnsGrad(dw, w, s, dwOut, sums, rows, c)` on heap offsets (see csrc).
 */
export function scaleColumnsPasses(): {
  scaleColumns: (...args: number[]) => void;
  scaleColumnsGrad: (...args: number[]) => void;
} | null {
  if (!simdModuleLoaded()) return null;
  return { scaleColumns: simd().scale_columns, scaleColumnsGrad: simd().scale_columns_grad };
}

/**
 * Whether every value of every (float32) tensor is finite, in one kernel call that reads each
 * where it lives (no concatenation). Check {@link simdKernelsAvailable} first.
 */
export function allFiniteKernel(tensors: readonly tf.Tensor[]): boolean {
  const inputs: tf.NamedTensorMap = {};
  tensors.forEach((t, i) => {
    inputs[`t${i}`] = t;
  });
  const flag = tf.engine().runKernel(ALL_FINITE, inputs, {
    count: tensors.length,
  } as unknown as tf.NamedAttrMap) as tf.Tensor;
  const ok = flag.dataSync()[0] === 1;
  flag.dispose();
  return ok;
}

function allFiniteKernelFunc({
  inputs,
  attrs,
  backend,
}: WasmKernelArgs<{ count: number }>): tf.TensorInfo {
  const offset = (t: tf.TensorInfo) => heapOffset(backend, t);
  let ok = 1;
  for (let i = 0; i < attrs.count && ok; i++) {
    const t = inputs[`t${i}`]!;
    if (t.dtype !== 'float32') throw new Error(`${ALL_FINITE}: needs float32 tensors`);
    ok = simd().all_finite(offset(t), tf.util.sizeFromShape(t.shape));
  }
  const out = backend.makeOutput([], 'int32');
  (backend.typedArrayFromHeap(out) as Int32Array)[0] = ok;
  return out;
}

/** The kernels of this module, by name, for registration. */
export const ELEMENTWISE_KERNELS = {
  [RELU_GRAD]: reluGradKernelFunc,
  [ADAMAX_UPDATE]: adamaxUpdateKernelFunc,
  [SPLIT_HALVES]: splitHalvesKernelFunc,
  [JOIN_HALVES]: joinHalvesKernelFunc,
  [AFFINE_COUPLING]: affineCouplingKernelFunc,
  [AFFINE_COUPLING_GRAD]: affineCouplingGradKernelFunc,
  [AFFINE_COUPLING_INVERSE_GRAD]: affineCouplingInverseGradKernelFunc,
  [ALL_FINITE]: allFiniteKernelFunc,
};
