import { binaryCurveFromSorted, orientedSortedScores } from './binary-curve.js';

/** Points of a ROC curve, in-distribution = positive class. */
export interface RocCurve {
  /** False-positive rate: fraction of out-scores >= threshold. Non-decreasing, starts at 0. */
  fpr: Float64Array;
  /** True-positive rate: fraction of in-scores >= threshold. Non-decreasing, starts at 0. */
  tpr: Float64Array;
  /** Decreasing; thresholds[0] = +Infinity (no example predicted in-distribution). */
  thresholds: Float64Array;
}

/** Options of {@link rocCurve}. */
export interface RocCurveOptions {
  /**
   * Drop points that lie on a straight line between their neighbours, exactly as scikit-learn's
   * `roc_curve(drop_intermediate=True)`, its default. Default true. The area is unchanged.
   */
  dropIntermediate?: boolean;
}

/**
 * ROC curve of "predict in-distribution when score >= threshold", one point per distinct score.
 * Matches scikit-learn's `roc_curve(labels, scores)` (in = 1, out = 0), except that the first
 * threshold is +Infinity, the convention of scikit-learn >= 1.3 (1.2 used `max score + 1`).
 *
 * @example
 * const { fpr, tpr, thresholds } = rocCurve([0.9, 0.4], [0.1, 0.4]);
 * // fpr [0, 0, 0.5, 1], tpr [0, 0.5, 1, 1], thresholds [Infinity, 0.9, 0.4, 0.1]
 */
export function rocCurve(
  inScores: ArrayLike<number>,
  outScores: ArrayLike<number>,
  options: RocCurveOptions = {},
): RocCurve {
  const { dropIntermediate = true } = options;
  const sorted = orientedSortedScores(inScores, outScores, 'in');
  const curve = binaryCurveFromSorted(sorted.positive, sorted.negative);
  const m = curve.tps.length;
  const keep = new Uint8Array(m).fill(1);
  if (dropIntermediate && m > 2) {
    // A point is kept when the second difference of fps or of tps is non-zero there, i.e.
    // the curve bends; the ends are always kept.
    for (let k = 1; k < m - 1; k++) {
      const dfps =
        (curve.fps[k + 1] as number) - 2 * (curve.fps[k] as number) + (curve.fps[k - 1] as number);
      const dtps =
        (curve.tps[k + 1] as number) - 2 * (curve.tps[k] as number) + (curve.tps[k - 1] as number);
      keep[k] = dfps !== 0 || dtps !== 0 ? 1 : 0;
    }
  }
  let kept = 0;
  for (let k = 0; k < m; k++) kept += keep[k] as number;
  const fpr = new Float64Array(kept + 1);
  const tpr = new Float64Array(kept + 1);
  const thresholds = new Float64Array(kept + 1);
  thresholds[0] = Number.POSITIVE_INFINITY;
  let w = 1;
  for (let k = 0; k < m; k++) {
    if (keep[k] === 0) continue;
    fpr[w] = (curve.fps[k] as number) / curve.negatives;
    tpr[w] = (curve.tps[k] as number) / curve.positives;
    thresholds[w] = curve.thresholds[k] as number;
    w++;
  }
  return { fpr, tpr, thresholds };
}
