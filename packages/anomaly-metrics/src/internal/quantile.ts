/**
 * Quantile of an ascending-sorted array with linear interpolation between order statistics
 * (numpy's default `method='linear'`, Hyndman & Fan type 7).
 */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  const h = (n - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, n - 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a === b ? a : a + (h - lo) * (b - a);
}
