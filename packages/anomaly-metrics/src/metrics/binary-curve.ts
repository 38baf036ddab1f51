import { InvalidOptionError } from '../errors.js';
import { negatedAscending, sortedScores } from '../internal/score-array.js';

/** Which class counts as "positive" for precision/recall. Scores always mean higher = in. */
export type PositiveClass = 'in' | 'out';

/**
 * Cumulative counts at each distinct score, walking from the highest score down: the same points
 * as scikit-learn's `_binary_clf_curve`. Point k says: predicting positive for every score
 * >= thresholds[k] gives tps[k] true and fps[k] false positives.
 */
export interface BinaryCurve {
  tps: Float64Array;
  fps: Float64Array;
  thresholds: Float64Array;
  /** Number of positive examples. */
  positives: number;
  /** Number of negative examples. */
  negatives: number;
}

/** Builds the curve from two ascending-sorted arrays in one merge pass (O(n) after sorting). */
export function binaryCurveFromSorted(positive: Float64Array, negative: Float64Array): BinaryCurve {
  const capacity = positive.length + negative.length;
  const tps = new Float64Array(capacity);
  const fps = new Float64Array(capacity);
  const thresholds = new Float64Array(capacity);
  let i = positive.length - 1;
  let j = negative.length - 1;
  let tp = 0;
  let fp = 0;
  let k = 0;
  while (i >= 0 || j >= 0) {
    // The next threshold is the larger of the two current tops (one side may be used up).
    const t =
      i < 0
        ? (negative[j] as number)
        : j < 0
          ? (positive[i] as number)
          : Math.max(positive[i] as number, negative[j] as number);
    while (i >= 0 && positive[i] === t) {
      tp++;
      i--;
    }
    while (j >= 0 && negative[j] === t) {
      fp++;
      j--;
    }
    tps[k] = tp;
    fps[k] = fp;
    thresholds[k] = t;
    k++;
  }
  return {
    tps: tps.subarray(0, k),
    fps: fps.subarray(0, k),
    thresholds: thresholds.subarray(0, k),
    positives: positive.length,
    negatives: negative.length,
  };
}

/**
 * Validates both score sets and returns them sorted ascending, oriented so that the first array
 * is the positive class and "higher = positive" holds (for `positive: 'out'` both are negated).
 */
export function orientedSortedScores(
  inScores: ArrayLike<number>,
  outScores: ArrayLike<number>,
  positive: PositiveClass,
): { positive: Float64Array; negative: Float64Array } {
  if (positive !== 'in' && positive !== 'out') {
    throw new InvalidOptionError(`positive must be 'in' or 'out', got ${String(positive)}.`);
  }
  const sortedIn = sortedScores(inScores, 'inScores');
  const sortedOut = sortedScores(outScores, 'outScores');
  return positive === 'in'
    ? { positive: sortedIn, negative: sortedOut }
    : { positive: negatedAscending(sortedOut), negative: negatedAscending(sortedIn) };
}
