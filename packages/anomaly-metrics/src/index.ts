/**
 * @hierglow/anomaly-metrics: anomaly scores for likelihood models, the losses that train for
 * them, the baselines they are compared with, and the metrics that judge them.
 *
 * Sign convention everywhere: a score is higher for more in-distribution inputs. The metrics
 * treat in-distribution as the positive class unless an option says otherwise. The metrics alone
 * (no tfjs) are also available from `@hierglow/anomaly-metrics/metrics`.
 */

// Baselines
export {
  type ComplexityOptions,
  type ImageBatch,
  inputComplexityScore,
  pngComplexityBitsPerDim,
  serraScore,
} from './baselines/input-complexity.js';
export { encodePng, type ImageSize } from './baselines/png-encoder.js';
export {
  fitTypicalityTest,
  isAtypicalBatch,
  type TypicalityTest,
  type TypicalityTestOptions,
  typicalityBatchScores,
  typicalityStatistic,
} from './baselines/typicality.js';
export {
  AnomalyMetricsError,
  DegenerateInputError,
  EmptyInputError,
  InvalidImageError,
  InvalidOptionError,
  LengthMismatchError,
  NonFiniteScoreError,
  ShapeError,
} from './errors.js';

// Training losses (tfjs)
export { type MarginLossOptions, marginLoss } from './losses/margin-loss.js';
export { type OutlierLossOptions, outlierLoss } from './losses/outlier-loss.js';
export { type WrongClassLossOptions, wrongClassLoss } from './losses/wrong-class-loss.js';
// Metrics (the same list as the tfjs-free `./metrics` entry; one place to keep it)
export * from './metrics.js';
// Scores from model outputs
export {
  finalScaleScore,
  likelihoodRatioScore,
  logLikelihoodScore,
  negativeBitsPerDimScore,
  perScaleLikelihoodRatioScores,
  perScaleScores,
} from './scores/likelihood-scores.js';
export {
  type NonFinitePolicy,
  REFERENCE_NON_FINITE_LOG_P,
  type ScoreOptions,
} from './scores/non-finite.js';
export {
  type LikelihoodArrays,
  type LikelihoodOutput,
  type PerExampleValues,
  readLikelihoodOutput,
  type TensorLike,
} from './scores/per-example-values.js';
