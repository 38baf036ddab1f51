import { InvalidOptionError } from '../errors.js';
import { sortedScores } from '../internal/score-array.js';
import { binaryCurveFromSorted, orientedSortedScores } from './binary-curve.js';

function checkTargetTpr(tpr: number): void {
  if (!(tpr > 0 && tpr <= 1)) {
    throw new InvalidOptionError(`target TPR must be in (0, 1], got ${tpr}.`);
  }
}

/**
 * Smallest k in 1..n with k / n >= target, with k / n evaluated in floating point exactly as a
 * comparison `tpr >= target` on a ROC curve would (so 0.07 with n = 100 gives k = 7, not 8).
 */
function countReachingTpr(n: number, target: number): number {
  let k = Math.min(n, Math.max(1, Math.ceil(target * n)));
  while (k > 1 && (k - 1) / n >= target) k--;
  while (k < n && k / n < target) k++;
  return k;
}

/**
 * The threshold at which "predict in-distribution when score >= threshold" first reaches the
 * target true-positive rate on these in-distribution scores: the k-th largest score with
 * k = the smallest count such that k / n >= tpr. With ties at the threshold the achieved TPR can
 * exceed the target.
 *
 * @example
 * thresholdAtTpr([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95); // 1 (10 of 10 needed: 9/10 < 0.95)
 * thresholdAtTpr([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9);  // 2
 */
export function thresholdAtTpr(inScores: ArrayLike<number>, tpr = 0.95): number {
  checkTargetTpr(tpr);
  const sorted = sortedScores(inScores, 'inScores');
  const k = countReachingTpr(sorted.length, tpr);
  return sorted[sorted.length - k] as number;
}

/**
 * False-positive rate at the first ROC point whose TPR reaches the target (default 0.95),
 * in-distribution = positive: the fraction of out-scores >= {@link thresholdAtTpr}. Computed on
 * the full ROC curve, i.e. scikit-learn's `fpr[argmax(tpr >= 0.95)]` with
 * `roc_curve(drop_intermediate=False)`. (With the default `drop_intermediate=True` the common
 * snippet can land on a later, worse point when the curve has straight diagonal runs.)
 *
 * @example
 * fprAtTpr([0.9, 0.8, 0.7, 0.6], [0.65, 0.1], 0.95); // 0.5: all 4 in needed, 1 of 2 out above 0.6
 */
export function fprAtTpr(
  inScores: ArrayLike<number>,
  outScores: ArrayLike<number>,
  tpr = 0.95,
): number {
  checkTargetTpr(tpr);
  const sorted = orientedSortedScores(inScores, outScores, 'in');
  const threshold = sorted.positive[
    sorted.positive.length - countReachingTpr(sorted.positive.length, tpr)
  ] as number;
  // Out-scores >= threshold: those past the last out-score below it.
  const out = sorted.negative;
  let lo = 0;
  let hi = out.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((out[mid] as number) < threshold) lo = mid + 1;
    else hi = mid;
  }
  return (out.length - lo) / out.length;
}

/**
 * Detection error of Liang et al. (ODIN, 2018): the smallest misclassification rate over all
 * thresholds when in and out are equally likely, min_t 0.5 * (1 - TPR(t)) + 0.5 * FPR(t),
 * in-distribution = positive. Includes the trivial thresholds (all in: 0.5, none in: 0.5), so
 * the result is at most 0.5.
 *
 * @example
 * detectionError([0.9, 0.8], [0.1, 0.85]); // 0.25 at threshold 0.9 (TPR 0.5, FPR 0)
 */
export function detectionError(inScores: ArrayLike<number>, outScores: ArrayLike<number>): number {
  const sorted = orientedSortedScores(inScores, outScores, 'in');
  const { tps, fps, positives, negatives } = binaryCurveFromSorted(
    sorted.positive,
    sorted.negative,
  );
  let best = 0.5; // threshold +Infinity: nothing predicted in, TPR = FPR = 0
  for (let k = 0; k < tps.length; k++) {
    const error =
      0.5 * (1 - (tps[k] as number) / positives) + 0.5 * ((fps[k] as number) / negatives);
    if (error < best) best = error;
  }
  return best;
}
