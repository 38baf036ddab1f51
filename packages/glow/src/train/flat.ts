import { allFiniteKernel, simdKernelsAvailable } from '@hierglow/backend-wasm';
import * as tf from '@tensorflow/tfjs-core';

/**
 * Helpers to treat many small tensors (a model's variables or gradients) as a few flat vectors,
 * so per-step work costs a handful of kernel calls instead of several per variable.
 */

/**
 * At most this many values per flat vector, so the concatenated copies stay small next to the
 * model (a 44M-parameter model would otherwise need several 176 MB vectors at once on a wasm
 * heap capped at 4 GiB).
 */
export const MAX_FLAT_VALUES = 1 << 22;

/**
 * Consecutive runs of `items` whose sizes add up to at most `max` values (a single item may
 * exceed it).
 */
export function chunksBySize<T>(
  items: readonly T[],
  sizeOf: (item: T) => number,
  max = MAX_FLAT_VALUES,
): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let total = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && total + size > max) {
      chunks.push(current);
      current = [];
      total = 0;
    }
    current.push(item);
    total += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** The tensors flattened and joined into one vector (a reshape when there is only one). */
export function flatConcat(tensors: readonly tf.Tensor[]): tf.Tensor1D {
  const flat = tensors.map((t) => tf.reshape(t, [-1]));
  return (flat.length === 1 ? flat[0]! : tf.concat(flat)) as tf.Tensor1D;
}

/**
 * Whether every value of every tensor is finite, read with one sync. Concatenating first keeps
 * it to a few kernel calls (one isFinite/all per chunk) however many tensors there are.
 */
export function allFinite(tensors: readonly tf.Tensor[]): boolean {
  if (tensors.length === 0) return true;
  // On wasm with hierglow's kernels: one pass over each tensor where it lives, no copies.
  if (simdKernelsAvailable() && tensors.every((t) => t.dtype === 'float32')) {
    return allFiniteKernel(tensors);
  }
  return tf.tidy(() => {
    const flags = chunksBySize(tensors, (t) => t.size).map((chunk) =>
      tf.all(tf.isFinite(flatConcat(chunk))),
    );
    const all = flags.length === 1 ? flags[0]! : tf.all(tf.stack(flags));
    return all.dataSync()[0] === 1;
  });
}
