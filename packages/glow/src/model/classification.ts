import { ShapeError } from '@hierglow/flow-layers';
import type * as tf from '@tensorflow/tfjs-core';

/**
 * The predicted class of every row of per-class log-densities (`[batch, classes]`, e.g.
 * `logProbPerClass`): the argmax, ties to the lower index. A row with a NaN has no prediction
 * (−1), so it counts as wrong in {@link classificationAccuracy} instead of as class 0. Reads
 * the tensor with `await data()`, so a browser page is not blocked while a GPU finishes.
 *
 * @example
 * await predictedClasses(model.logProbPerClass(x)); // Int32Array [batch]
 */
export async function predictedClasses(logPPerClass: tf.Tensor2D): Promise<Int32Array> {
  if (logPPerClass.rank !== 2) {
    throw new ShapeError(
      `predictedClasses expects per-class log-densities [batch, classes], got shape [${logPPerClass.shape}]`,
    );
  }
  const [rows, classes] = logPPerClass.shape;
  return argmaxRows(await logPPerClass.data(), rows, classes);
}

/** Row-wise argmax of a row-major `[rows, classes]` array; −1 for a row with a NaN. */
function argmaxRows(values: ArrayLike<number>, rows: number, classes: number): Int32Array {
  const out = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = -1;
    let bestValue = Number.NEGATIVE_INFINITY;
    for (let c = 0; c < classes; c++) {
      const v = values[i * classes + c]!;
      if (Number.isNaN(v)) {
        best = -1;
        break;
      }
      if (best === -1 || v > bestValue) {
        best = c;
        bestValue = v;
      }
    }
    out[i] = best;
  }
  return out;
}

/**
 * The fraction of rows whose argmax class (see {@link predictedClasses}) is the label: a
 * class-conditional flow's test accuracy.
 *
 * @param logPPerClass `[batch, classes]`, e.g. `model.logProbPerClass(x)`
 * @param labels one integer label per row
 * @example
 * const accuracy = await classificationAccuracy(model.logProbPerClass(x), [3, 0, 7]);
 */
export async function classificationAccuracy(
  logPPerClass: tf.Tensor2D,
  labels: tf.Tensor | ArrayLike<number>,
): Promise<number> {
  const { correct, rows } = await countCorrect(logPPerClass, labels, 'classificationAccuracy');
  if (rows === 0) {
    throw new ShapeError('classificationAccuracy: no rows; the accuracy of nothing is undefined');
  }
  return correct / rows;
}

/**
 * How many rows' argmax class is their label, of how many rows; `where` names the caller in the
 * error for a label count that does not match the rows.
 */
export async function countCorrect(
  logPPerClass: tf.Tensor2D,
  labels: tf.Tensor | ArrayLike<number>,
  where: string,
): Promise<{ correct: number; rows: number }> {
  const predicted = await predictedClasses(logPPerClass);
  const truth =
    'data' in labels && typeof labels.data === 'function'
      ? await labels.data()
      : (labels as ArrayLike<number>);
  if (truth.length !== predicted.length) {
    throw new ShapeError(
      `${where}: ${truth.length} labels for ${predicted.length} rows of log-densities`,
    );
  }
  let correct = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === truth[i]) correct++;
  return { correct, rows: predicted.length };
}
