import { sortedScores } from '../internal/score-array.js';

/**
 * Area under the ROC curve with in-distribution as the positive class and higher score = more
 * in-distribution: the probability that a random in-score beats a random out-score, ties counted
 * as one half. Equals scikit-learn's `roc_auc_score(labels, scores)` with in = 1, out = 0.
 *
 * Infinite scores are valid (they are the most extreme ranks); NaN throws NonFiniteScoreError;
 * an empty set throws EmptyInputError. O(n log n): two native typed-array sorts and one merge.
 *
 * @example
 * auroc([0.9, 0.8, 0.4], [0.1, 0.4]); // (2 + 2 + 1.5) / 6 = 0.9166...
 */
export function auroc(inScores: ArrayLike<number>, outScores: ArrayLike<number>): number {
  return aurocOfSorted(sortedScores(inScores, 'inScores'), sortedScores(outScores, 'outScores'));
}

/**
 * AUROC of ascending-sorted in/out arrays, optionally with integer multiplicities per element
 * (how the bootstrap resamples without re-sorting). Counts twice the Mann-Whitney U in integers,
 * so the only rounding is the final division.
 */
export function aurocOfSorted(
  sortedIn: Float64Array,
  sortedOut: Float64Array,
  inCounts?: Uint32Array,
  outCounts?: Uint32Array,
): number {
  let outBelow = 0; // total weight of out-scores strictly below the current value
  let twiceU = 0;
  let inTotal = 0;
  let j = 0;
  const nIn = sortedIn.length;
  const nOut = sortedOut.length;
  let i = 0;
  while (i < nIn) {
    const v = sortedIn[i] as number;
    let inGroup = 0;
    while (i < nIn && sortedIn[i] === v) {
      inGroup += inCounts ? (inCounts[i] as number) : 1;
      i++;
    }
    while (j < nOut && (sortedOut[j] as number) < v) {
      outBelow += outCounts ? (outCounts[j] as number) : 1;
      j++;
    }
    let outEqual = 0;
    let k = j;
    while (k < nOut && sortedOut[k] === v) {
      outEqual += outCounts ? (outCounts[k] as number) : 1;
      k++;
    }
    twiceU += inGroup * (2 * outBelow + outEqual);
    inTotal += inGroup;
  }
  let outTotal = 0;
  if (outCounts) for (let m = 0; m < nOut; m++) outTotal += outCounts[m] as number;
  else outTotal = nOut;
  return twiceU / (2 * inTotal * outTotal);
}
