import { DegenerateInputError, LengthMismatchError } from '../errors.js';
import { toScoreArray } from '../internal/score-array.js';

/**
 * 1-based ranks with ties given the average of the ranks they span (scipy's
 * `rankdata(method='average')`). Uses one native sort and a binary search per element instead of
 * a comparator sort, which is several times faster on large arrays.
 */
export function averageRanks(values: Float64Array): Float64Array {
  const sorted = values.slice().sort();
  const n = values.length;
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    const first = lowerBound(sorted, v);
    let last = first; // exclusive end of the tie group
    while (last < n && sorted[last] === v) last++;
    ranks[i] = (first + 1 + last) / 2;
  }
  return ranks;
}

function lowerBound(sorted: Float64Array, v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as number) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Spearman's rank correlation: Pearson's correlation of the average ranks, as
 * `scipy.stats.spearmanr(a, b).correlation`. Used for the paper's Fig. 2B comparison of per-image
 * log-likelihoods under two models. Infinite values are ranked like any other.
 *
 * Throws LengthMismatchError for unequal lengths, EmptyInputError for empty arrays, and
 * DegenerateInputError when either array is constant, a single pair included (the correlation
 * is undefined there; scipy returns NaN).
 *
 * @example
 * spearman([1, 2, 3, 4], [10, 20, 30, 40]); // 1
 * spearman([1, 2, 3, 4], [4, 3, 2, 1]);     // -1
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const x = toScoreArray(a, 'a');
  const y = toScoreArray(b, 'b');
  if (x.length !== y.length) {
    throw new LengthMismatchError(
      `spearman needs paired values: a has ${x.length} and b has ${y.length} elements.`,
    );
  }
  const rx = averageRanks(x);
  const ry = averageRanks(y);
  const n = x.length;
  const mean = (n + 1) / 2; // ranks always average to (n + 1) / 2
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (rx[i] as number) - mean;
    const dy = (ry[i] as number) - mean;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) {
    throw new DegenerateInputError(
      `spearman: ${sxx === 0 ? 'a' : 'b'} is constant, so its ranks carry no order and the ` +
        'correlation is undefined.',
    );
  }
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.max(-1, Math.min(1, r));
}
