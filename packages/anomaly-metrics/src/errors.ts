/**
 * Error classes of @hierglow/anomaly-metrics: one class per kind of caller mistake. Each carries a
 * `_tag` string so `isInstance` works even when two copies of the package are installed, where
 * `instanceof` would fail.
 */
export class AnomalyMetricsError extends Error {
  readonly _tag: string = 'AnomalyMetricsError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
  /**
   * True for any error raised by this package, from any installed copy.
   *
   * @example
   * try { auroc([], [1]); } catch (e) { if (AnomalyMetricsError.isInstance(e)) console.log(e._tag); }
   */
  static isInstance(e: unknown): e is AnomalyMetricsError {
    return (
      typeof e === 'object' && e !== null && typeof (e as { _tag?: unknown })._tag === 'string'
    );
  }
}

// The declared return type keeps the .d.ts from spelling out Error's static members (which
// name the NodeJS namespace of @types/node) for every tagged class.
function tagged<T extends string>(tag: T): typeof AnomalyMetricsError {
  return class extends AnomalyMetricsError {
    override readonly _tag: string = tag;
    static override isInstance(e: unknown): e is AnomalyMetricsError {
      return typeof e === 'object' && e !== null && (e as { _tag?: unknown })._tag === tag;
    }
  };
}

/**
 * A set of scores (or a batch, or an image list) was empty where at least one value is needed.
 *
 * @example
 * auroc([], [0.1]); // throws EmptyInputError
 */
export class EmptyInputError extends tagged('EmptyInputError') {}

/**
 * A score was NaN, or infinite where infinities are not allowed. The message names the array and
 * the index of the first offender.
 *
 * @example
 * auroc([Number.NaN], [0.1]); // throws NonFiniteScoreError
 */
export class NonFiniteScoreError extends tagged('NonFiniteScoreError') {}

/**
 * Arrays that must be paired element by element (or tensors that must share a batch size) differ
 * in length.
 *
 * @example
 * spearman([1, 2, 3], [1, 2]); // throws LengthMismatchError
 */
export class LengthMismatchError extends tagged('LengthMismatchError') {}

/**
 * A tensor (or tensor-like value) has the wrong rank or shape.
 *
 * @example
 * outlierLoss(tf.zeros([2, 2]), tf.zeros([2, 2])); // throws ShapeError: expected rank 1
 */
export class ShapeError extends tagged('ShapeError') {}

/**
 * An option is out of range, e.g. a target TPR outside (0, 1] or a non-positive temperature.
 *
 * @example
 * fprAtTpr([1], [0], 1.5); // throws InvalidOptionError
 */
export class InvalidOptionError extends tagged('InvalidOptionError') {}

/**
 * The input carries no information for the statistic asked for, e.g. a constant array given to
 * a rank correlation (the correlation is undefined, scipy returns NaN).
 *
 * @example
 * spearman([1, 1, 1], [1, 2, 3]); // throws DegenerateInputError
 */
export class DegenerateInputError extends tagged('DegenerateInputError') {}

/**
 * Image data for the PNG complexity baseline is malformed: wrong shape, unsupported channel
 * count, or values that are not integers in [0, 255].
 *
 * @example
 * encodePng(new Uint8Array(5), { height: 2, width: 2, channels: 1 }); // throws InvalidImageError
 */
export class InvalidImageError extends tagged('InvalidImageError') {}
