/**
 * `@hierglow/anomaly-metrics/metrics`: the evaluation metrics alone, plain TypeScript with no
 * tfjs import, for code that only has arrays of scores. Everything here is also exported from the
 * package root.
 */
export {
  AnomalyMetricsError,
  DegenerateInputError,
  EmptyInputError,
  InvalidOptionError,
  LengthMismatchError,
  NonFiniteScoreError,
  ShapeError,
} from './errors.js';
export { auroc } from './metrics/auroc.js';
export {
  aurocBootstrapCI,
  type BootstrapInterval,
  type BootstrapOptions,
} from './metrics/auroc-bootstrap.js';
export type { PositiveClass } from './metrics/binary-curve.js';
export { detectionError, fprAtTpr, thresholdAtTpr } from './metrics/operating-point.js';
export {
  averagePrecision,
  type PrCurve,
  type PrecisionRecallOptions,
  prCurve,
} from './metrics/precision-recall.js';
export { type RocCurve, type RocCurveOptions, rocCurve } from './metrics/roc-curve.js';
export { spearman } from './metrics/spearman.js';
