import { InvalidOptionError } from '../errors.js';
import { quantileSorted } from '../internal/quantile.js';
import { seededRng } from '../internal/random.js';
import { sortedScores } from '../internal/score-array.js';
import { aurocOfSorted } from './auroc.js';

/** Options of {@link aurocBootstrapCI}. */
export interface BootstrapOptions {
  /** Number of bootstrap resamples. Default 1000. */
  resamples?: number;
  /** Two-sided confidence level in (0, 1). Default 0.95. */
  level?: number;
  /** Seed of the resampling generator; the same seed gives the same interval. Default 0. */
  seed?: number;
}

/** A percentile bootstrap interval for AUROC. */
export interface BootstrapInterval {
  /** AUROC of the data as given. */
  estimate: number;
  /** Lower end: the (1 - level) / 2 quantile of the resampled AUROCs. */
  lower: number;
  /** Upper end: the (1 + level) / 2 quantile of the resampled AUROCs. */
  upper: number;
  /** Standard deviation of the resampled AUROCs (a bootstrap standard error). */
  standardError: number;
  level: number;
  resamples: number;
}

/**
 * Percentile bootstrap confidence interval for {@link auroc}. Resamples the in and the out set
 * separately with replacement (a stratified bootstrap, so each resample keeps the class sizes),
 * and takes quantiles of the resampled AUROCs with linear interpolation (numpy's default).
 * Sorting happens once: a resample is a vector of multiplicities over the sorted scores, so each
 * resample costs O(n).
 *
 * @example
 * const ci = aurocBootstrapCI(inScores, outScores, { resamples: 2000, level: 0.95, seed: 1 });
 * console.log(`${ci.estimate} [${ci.lower}, ${ci.upper}]`);
 */
export function aurocBootstrapCI(
  inScores: ArrayLike<number>,
  outScores: ArrayLike<number>,
  options: BootstrapOptions = {},
): BootstrapInterval {
  const { resamples = 1000, level = 0.95, seed = 0 } = options;
  if (!Number.isInteger(resamples) || resamples < 2) {
    throw new InvalidOptionError(`resamples must be an integer >= 2, got ${resamples}.`);
  }
  if (!(level > 0 && level < 1)) {
    throw new InvalidOptionError(`level must be in (0, 1), got ${level}.`);
  }
  const sortedIn = sortedScores(inScores, 'inScores');
  const sortedOut = sortedScores(outScores, 'outScores');
  const random = seededRng(seed);
  const inCounts = new Uint32Array(sortedIn.length);
  const outCounts = new Uint32Array(sortedOut.length);
  const values = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    drawMultiplicities(inCounts, (n) => random.int(n));
    drawMultiplicities(outCounts, (n) => random.int(n));
    values[r] = aurocOfSorted(sortedIn, sortedOut, inCounts, outCounts);
  }
  let mean = 0;
  for (let r = 0; r < resamples; r++) mean += values[r] as number;
  mean /= resamples;
  let sumSq = 0;
  for (let r = 0; r < resamples; r++) sumSq += ((values[r] as number) - mean) ** 2;
  values.sort();
  return {
    estimate: aurocOfSorted(sortedIn, sortedOut),
    lower: quantileSorted(values, (1 - level) / 2),
    upper: quantileSorted(values, (1 + level) / 2),
    standardError: Math.sqrt(sumSq / (resamples - 1)),
    level,
    resamples,
  };
}

/** n draws with replacement from n items, recorded as how often each item was drawn. */
export function drawMultiplicities(counts: Uint32Array, nextIndex: (n: number) => number): void {
  counts.fill(0);
  const n = counts.length;
  for (let d = 0; d < n; d++) {
    const idx = nextIndex(n);
    counts[idx] = (counts[idx] as number) + 1;
  }
}
