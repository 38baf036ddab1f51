import { EmptyInputError, NonFiniteScoreError, ShapeError } from '../errors.js';

/** Options of {@link toScoreArray}. */
export interface ScoreArrayOptions {
  /** Whether +-Infinity is a valid score (it sorts as the most extreme value). Default true. */
  allowInfinite?: boolean;
  /** Whether an empty array is accepted. Default false. */
  allowEmpty?: boolean;
}

/**
 * Validates and copies scores into a fresh Float64Array. NaN is always rejected (it has no place
 * in an ordering); -0 becomes +0 so that native typed-array sorting, which orders -0 before +0,
 * cannot split a group of tied zeros.
 */
export function toScoreArray(
  values: ArrayLike<number>,
  name: string,
  options: ScoreArrayOptions = {},
): Float64Array {
  const { allowInfinite = true, allowEmpty = false } = options;
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number') {
    throw new ShapeError(
      `${name} must be an array of numbers (number[], Float32Array or Float64Array)` +
        `${isTensorLike(values) ? '; read a tensor first with `await t.data()`' : ''}.`,
    );
  }
  const n = values.length;
  if (n === 0 && !allowEmpty) {
    throw new EmptyInputError(`${name} is empty: at least one score is needed.`);
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    if (typeof v !== 'number' || Number.isNaN(v)) {
      throw new NonFiniteScoreError(
        `${name}[${i}] is ${String(v)}: scores must be numbers, not NaN.` +
          " If NaN comes from a model, map it explicitly first (e.g. `nonFinite: 'most-anomalous'`).",
      );
    }
    if (!allowInfinite && !Number.isFinite(v)) {
      throw new NonFiniteScoreError(`${name}[${i}] is ${v}: this function needs finite values.`);
    }
    out[i] = v + 0; // -0 + 0 === +0
  }
  return out;
}

/** Validated, ascending-sorted copy of the scores. */
export function sortedScores(
  values: ArrayLike<number>,
  name: string,
  options?: ScoreArrayOptions,
): Float64Array {
  return toScoreArray(values, name, options).sort();
}

/** `-x` for every element of an ascending array, returned ascending (so reversed). */
export function negatedAscending(sorted: Float64Array): Float64Array {
  const n = sorted.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = -(sorted[n - 1 - i] as number) + 0;
  return out;
}

function isTensorLike(v: unknown): boolean {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { dataSync?: unknown }).dataSync === 'function'
  );
}
