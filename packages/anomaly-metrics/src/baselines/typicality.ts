import {
  EmptyInputError,
  InvalidOptionError,
  LengthMismatchError,
  NonFiniteScoreError,
} from '../errors.js';
import { quantileSorted } from '../internal/quantile.js';
import { seededRng } from '../internal/random.js';
import { type PerExampleValues, readPerExample } from '../scores/per-example-values.js';

/** Options of {@link fitTypicalityTest}. */
export interface TypicalityTestOptions {
  /** M, the number of examples per tested batch; the threshold is calibrated for this size. */
  batchSize: number;
  /** K, the number of bootstrap batches drawn from the calibration set. Default 50. */
  resamples?: number;
  /** The quantile of the bootstrap distances used as threshold (1 - alpha). Default 0.99. */
  level?: number;
  /** Seed of the bootstrap. Default 0. */
  seed?: number;
}

/** A calibrated typicality test: plain data, safe to serialise. */
export interface TypicalityTest {
  /** H-hat: mean negative log-likelihood of the training set (same unit as the inputs). */
  entropyEstimate: number;
  /** epsilon: a batch is atypical when |mean NLL - H-hat| exceeds this. */
  threshold: number;
  batchSize: number;
  level: number;
  resamples: number;
}

function finiteValues(values: PerExampleValues, name: string): Float64Array {
  const v = readPerExample(values, name);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i] as number)) {
      throw new NonFiniteScoreError(`${name}[${i}] is ${v[i]}: calibration needs finite NLLs.`);
    }
  }
  return v;
}

function mean(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] as number;
  return s / v.length;
}

/**
 * Calibrates the typicality test of Nalisnick et al. (2019), their Algorithm 1, for batches of M
 * examples. H-hat is the mean training NLL; the threshold epsilon is the `level` quantile
 * (linear interpolation) of |mean NLL of a bootstrap batch - H-hat| over K batches of M drawn
 * with replacement from a held-out in-distribution calibration set. Any per-example NLL unit
 * works (nats or bits/dim) as long as all inputs share it. The defaults K = 50 and level 0.99
 * are this package's choice.
 *
 * The test is two-sided: a batch is flagged when its likelihood is atypically *high* as well as
 * low, which is what catches the SVHN-under-a-CIFAR-model failure of raw likelihood.
 *
 * @example
 * const test = fitTypicalityTest(trainNll, validationNll, { batchSize: 10, resamples: 1000 });
 * isAtypicalBatch(batchNll, test); // true = out of distribution at level 0.99
 */
export function fitTypicalityTest(
  trainNll: PerExampleValues,
  calibrationNll: PerExampleValues,
  options: TypicalityTestOptions,
): TypicalityTest {
  const {
    batchSize,
    resamples = 50,
    level = 0.99,
    seed = 0,
  } = options ?? ({} as TypicalityTestOptions);
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new InvalidOptionError(`batchSize must be a positive integer, got ${batchSize}.`);
  }
  if (!(Number.isInteger(resamples) && resamples >= 1)) {
    throw new InvalidOptionError(`resamples must be a positive integer, got ${resamples}.`);
  }
  if (!(level > 0 && level < 1))
    throw new InvalidOptionError(`level must be in (0, 1), got ${level}.`);
  const train = finiteValues(trainNll, 'trainNll');
  const calibration = finiteValues(calibrationNll, 'calibrationNll');
  const entropyEstimate = mean(train);
  const random = seededRng(seed);
  const distances = new Float64Array(resamples);
  for (let k = 0; k < resamples; k++) {
    let s = 0;
    for (let m = 0; m < batchSize; m++) s += calibration[random.int(calibration.length)] as number;
    distances[k] = Math.abs(s / batchSize - entropyEstimate);
  }
  distances.sort();
  return {
    entropyEstimate,
    threshold: quantileSorted(distances, level),
    batchSize,
    level,
    resamples,
  };
}

/**
 * The test statistic |mean NLL(batch) - H-hat|: 0 for a perfectly typical batch. An infinite NLL
 * gives Infinity (flagged); NaN throws.
 *
 * @example
 * typicalityStatistic([4, 4], { entropyEstimate: 2 }); // 2
 */
export function typicalityStatistic(
  batchNll: PerExampleValues,
  test: Pick<TypicalityTest, 'entropyEstimate'>,
): number {
  const batch = readPerExample(batchNll, 'batchNll');
  for (let i = 0; i < batch.length; i++) {
    if (Number.isNaN(batch[i] as number)) throw new NonFiniteScoreError(`batchNll[${i}] is NaN.`);
  }
  return Math.abs(mean(batch) - test.entropyEstimate);
}

/**
 * Whether a batch of exactly `test.batchSize` examples is atypical (out of distribution):
 * statistic > threshold. Other sizes throw LengthMismatchError, as the threshold would not hold.
 *
 * @example
 * if (isAtypicalBatch(model.logProb(batch).bitsPerDim, test)) console.log('OOD batch');
 */
export function isAtypicalBatch(batchNll: PerExampleValues, test: TypicalityTest): boolean {
  const statistic = typicalityStatistic(batchNll, test);
  const size = readPerExample(batchNll, 'batchNll').length;
  if (size !== test.batchSize) {
    throw new LengthMismatchError(
      `the test was calibrated for batches of ${test.batchSize}, got ${size}; fit it again for this size.`,
    );
  }
  return statistic > test.threshold;
}

/**
 * Scores for evaluating the test with AUROC: splits `nll` into consecutive batches of
 * `test.batchSize` (a final incomplete batch is dropped) and returns -statistic per batch, so
 * higher = more typical = more in-distribution.
 *
 * @example
 * auroc(typicalityBatchScores(inTestNll, test), typicalityBatchScores(oodNll, test));
 */
export function typicalityBatchScores(nll: PerExampleValues, test: TypicalityTest): Float64Array {
  const values = readPerExample(nll, 'nll');
  const batches = Math.floor(values.length / test.batchSize);
  if (batches === 0) {
    throw new EmptyInputError(
      `nll has ${values.length} examples, fewer than one batch of ${test.batchSize}.`,
    );
  }
  const scores = new Float64Array(batches);
  for (let b = 0; b < batches; b++) {
    const batch = values.subarray(b * test.batchSize, (b + 1) * test.batchSize);
    scores[b] = -typicalityStatistic(batch, test);
  }
  return scores;
}
