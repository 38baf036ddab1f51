import * as tf from '@tensorflow/tfjs-core';

/**
 * Element-wise float32 arithmetic on small tensors in plain JavaScript.
 *
 * Why: with its thread pool (2+ threads), tfjs-backend-wasm hands broadcasting binary ops and
 * most unary ops to XNNPACK, which wakes the pool threads for every call however small the
 * tensor. That wake-up costs far more than the same work on the calling thread, and a flow's
 * training step makes hundreds of such calls on
 * parameter-sized tensors (weights times per-channel scales, 1x1-conv matrices, log-dets).
 *
 * Results are bit-identical to the kernels they stand in for: IEEE float32 `+ − × ÷` are
 * correctly rounded, and a float64 operation on float32 operands rounded once to float32 gives
 * the correctly rounded float32 result (53 ≥ 2·24 + 2 bits); negation and |x| are exact.
 */

/**
 * Tensors up to this many output values take the JavaScript path. Parameter-sized tensors (the
 * hundreds of calls per step) stay under it; activations do not: the stock kernels handle an
 * activation faster than this generic loop, and a larger bound made a Glow training step
 * slower (bench/README.md).
 */
export const SMALL_ELEMENTWISE = 1024;

export type BinaryOp = (a: number, b: number) => number;

/**
 * `out[i] = op(a[ia], b[ib])` with NumPy broadcasting of `aShape` and `bShape` to `outShape`.
 * Fast cases: equal shapes, a scalar side, a side that repeats along leading axes (`[N, C]`
 * with `[C]`); anything else walks the output index by index.
 */
export function broadcastBinary(
  a: ArrayLike<number>,
  aShape: readonly number[],
  b: ArrayLike<number>,
  bShape: readonly number[],
  out: { [i: number]: number; length: number },
  outShape: readonly number[],
  op: BinaryOp,
): void {
  const n = out.length;
  const aSize = a.length;
  const bSize = b.length;
  if (aSize === n && bSize === n) {
    for (let i = 0; i < n; i++) out[i] = op(a[i]!, b[i]!);
  } else if (bSize === 1) {
    const bv = b[0]!;
    if (aSize === n) for (let i = 0; i < n; i++) out[i] = op(a[i]!, bv);
    else for (let i = 0; i < n; i++) out[i] = op(a[0]!, bv);
  } else if (aSize === 1) {
    const av = a[0]!;
    if (bSize === n) for (let i = 0; i < n; i++) out[i] = op(av, b[i]!);
    else for (let i = 0; i < n; i++) out[i] = op(av, b[0]!);
  } else if (aSize === n && isTrailing(bShape, outShape)) {
    for (let i = 0; i < n; i++) out[i] = op(a[i]!, b[i % bSize]!);
  } else if (bSize === n && isTrailing(aShape, outShape)) {
    for (let i = 0; i < n; i++) out[i] = op(a[i % aSize]!, b[i]!);
  } else {
    const aIndex = broadcastIndex(aShape, outShape);
    const bIndex = broadcastIndex(bShape, outShape);
    for (let i = 0; i < n; i++) out[i] = op(a[aIndex(i)]!, b[bIndex(i)]!);
  }
}

/** Whether `shape` (without leading 1s) equals the trailing axes of `outShape`. */
function isTrailing(shape: readonly number[], outShape: readonly number[]): boolean {
  const s = shape.slice(shape.findIndex((d) => d !== 1));
  if (s.length > outShape.length) return false;
  const tail = outShape.slice(outShape.length - s.length);
  return s.every((d, i) => d === tail[i]);
}

/** Maps a flat output index to the flat index of a broadcast input. */
function broadcastIndex(
  shape: readonly number[],
  outShape: readonly number[],
): (i: number) => number {
  const rank = outShape.length;
  const padded = [...new Array<number>(rank - shape.length).fill(1), ...shape];
  const inStrides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let d = rank - 1; d >= 0; d--) {
    inStrides[d] = padded[d] === 1 ? 0 : stride;
    stride *= padded[d]!;
  }
  const outStrides = tf.util.computeStrides([...outShape]);
  return (i: number) => {
    let rest = i;
    let index = 0;
    for (let d = 0; d < rank - 1; d++) {
      const q = Math.floor(rest / outStrides[d]!);
      rest -= q * outStrides[d]!;
      index += q * inStrides[d]!;
    }
    return index + rest * inStrides[rank - 1]!;
  };
}
