import { binaryCurveFromSorted, orientedSortedScores, type PositiveClass } from './binary-curve.js';

/** Options shared by {@link averagePrecision} and {@link prCurve}. */
export interface PrecisionRecallOptions {
  /**
   * The class whose retrieval is measured. 'in' (default): AUPR-in, in-distribution examples are
   * positive and ranked by descending score. 'out': AUPR-out, out-of-distribution examples are
   * positive and ranked by ascending score (scikit-learn on labels out = 1 and `-score`).
   */
  positive?: PositiveClass;
}

/**
 * Average precision, scikit-learn's `average_precision_score` step definition:
 * AP = sum_k (R_k - R_{k-1}) * P_k over distinct thresholds, no interpolation. Scores mean
 * higher = more in-distribution for both choices of positive class.
 *
 * @example
 * averagePrecision([0.9, 0.6], [0.7, 0.1]);                      // AUPR-in:  (1 + 2/3) / 2
 * averagePrecision([0.9, 0.6], [0.7, 0.1], { positive: 'out' }); // AUPR-out: (1 + 2/3) / 2
 */
export function averagePrecision(
  inScores: ArrayLike<number>,
  outScores: ArrayLike<number>,
  options: PrecisionRecallOptions = {},
): number {
  const sorted = orientedSortedScores(inScores, outScores, options.positive ?? 'in');
  const { tps, fps, positives } = binaryCurveFromSorted(sorted.positive, sorted.negative);
  let ap = 0;
  let previousRecall = 0;
  for (let k = 0; k < tps.length; k++) {
    const tp = tps[k] as number;
    const recall = tp / positives;
    if (recall !== previousRecall) {
      ap += (recall - previousRecall) * (tp / (tp + (fps[k] as number)));
      previousRecall = recall;
    }
  }
  return ap;
}

/** Points of a precision-recall curve, scikit-learn's `precision_recall_curve` layout. */
export interface PrCurve {
  /** Precision per threshold, followed by a final 1 (the empty prediction). */
  precision: Float64Array;
  /** Recall per threshold (decreasing), followed by a final 0. */
  recall: Float64Array;
  /**
   * In original score units. positive 'in': ascending, predict in when score >= threshold.
   * positive 'out': descending, predict out when score <= threshold.
   */
  thresholds: Float64Array;
}

/**
 * Precision-recall curve with one point per distinct score, ordered as scikit-learn's
 * `precision_recall_curve` (recall decreasing, then the point (recall 0, precision 1)).
 *
 * @example
 * const { precision, recall, thresholds } = prCurve([0.9, 0.6], [0.7, 0.1]);
 * // thresholds [0.1, 0.6, 0.7, 0.9], recall [1, 1, 0.5, 0.5, 0], precision [0.5, 2/3, 0.5, 1, 1]
 */
export function prCurve(
  inScores: ArrayLike<number>,
  outScores: ArrayLike<number>,
  options: PrecisionRecallOptions = {},
): PrCurve {
  const positiveClass = options.positive ?? 'in';
  const sorted = orientedSortedScores(inScores, outScores, positiveClass);
  const { tps, fps, thresholds, positives } = binaryCurveFromSorted(
    sorted.positive,
    sorted.negative,
  );
  const m = tps.length;
  const precision = new Float64Array(m + 1);
  const recall = new Float64Array(m + 1);
  const outThresholds = new Float64Array(m);
  const sign = positiveClass === 'in' ? 1 : -1;
  for (let k = 0; k < m; k++) {
    const tp = tps[k] as number;
    const r = m - 1 - k; // scikit-learn reverses: lowest threshold first
    precision[r] = tp / (tp + (fps[k] as number));
    recall[r] = tp / positives;
    outThresholds[r] = sign * (thresholds[k] as number) + 0;
  }
  precision[m] = 1;
  recall[m] = 0;
  return { precision, recall, thresholds: outThresholds };
}
