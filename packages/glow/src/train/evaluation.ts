import { ConfigError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { countCorrect } from '../model/classification.js';
import type { TrainableModel } from '../state/trainable-model.js';
import { batchImages, disposeBatch, type TrainingBatch } from './data.js';

/** Mean likelihood figures of a model over a data set. */
export interface NllSummary {
  /** Mean discrete NLL `−log p(x) + D ln 256` in nats per example. */
  meanNll: number;
  /** The same in bits per dimension (spec 4). */
  meanBitsPerDim: number;
  /** Examples seen, and how many of them had a non-finite log-density (left out of the means). */
  examples: number;
  nonFinite: number;
  /**
   * A class-conditional model's accuracy (argmax_c log p(x|c) against the labels) over the
   * labelled examples, when the model gives per-class log-densities and the batches carry labels.
   */
  classification?: { accuracy: number; labelled: number };
}

/**
 * Mean NLL and bits/dim of `model` over the batches of `data`, without gradients: the per-epoch
 * evaluation of spec 6.1, usable as a trainer `evaluate` hook. A class-conditional model on
 * labelled batches also gets its accuracy, so a supervised run's history shows it converge.
 * Takes ownership of tensor batches.
 *
 * @example
 * evaluate: async ({ model }) => ({ testBpd: (await meanBitsPerDim(model, testBatches())).meanBitsPerDim })
 */
export async function meanBitsPerDim(
  model: TrainableModel,
  data: AsyncIterable<TrainingBatch> | Iterable<TrainingBatch>,
): Promise<NllSummary> {
  const D = model.numDims;
  let sum = 0;
  let finite = 0;
  let examples = 0;
  let index = 0;
  let labelled = 0;
  let correct = 0;
  for await (const batch of data) {
    try {
      const x = batchImages(batch, `evaluation batch ${index}`);
      const withLabels = batch.labels !== undefined;
      const { logP: logPTensor, perClass } = tf.tidy(() => {
        const r = model.logProb(x);
        return { logP: r.logP, perClass: withLabels ? r.logPPerClass : undefined };
      });
      x.dispose();
      let logP: Float32Array | Int32Array | Uint8Array;
      try {
        logP = await logPTensor.data();
        if (perClass) {
          const counted = await countCorrect(perClass, batch.labels!, `evaluation batch ${index}`);
          labelled += counted.rows;
          correct += counted.correct;
        }
      } finally {
        tf.dispose([logPTensor, ...(perClass ? [perClass] : [])]);
      }
      for (const v of logP) {
        examples += 1;
        if (!Number.isFinite(v)) continue;
        sum += D * Math.log(256) - v;
        finite += 1;
      }
    } finally {
      disposeBatch(batch);
    }
    index += 1;
  }
  const meanNll = finite ? sum / finite : Number.NaN;
  return {
    meanNll,
    meanBitsPerDim: meanNll / (D * Math.LN2),
    examples,
    nonFinite: examples - finite,
    ...(labelled > 0 ? { classification: { accuracy: correct / labelled, labelled } } : {}),
  };
}

/** A model with data-dependent initialisation (spec 3.6). */
export interface DataInitializable extends TrainableModel {
  initialize(x: tf.Tensor4D): void;
}

/**
 * Data-dependent initialisation from the first `images` images of `data` (spec 3.6: 11
 * batches × 64 = 704 images of the noisy, augmented training stream), concatenated into one
 * batch and passed to `model.initialize` in a single forward pass. Only for training from
 * scratch: a fine-tuned model keeps its loaded parameters.
 */
export async function initializeFromData(
  model: DataInitializable,
  data: AsyncIterable<TrainingBatch> | Iterable<TrainingBatch>,
  images = 704,
): Promise<number> {
  if (!(Number.isInteger(images) && images >= 2)) {
    throw new ConfigError(`initializeFromData: 'images' must be an integer >= 2, got ${images}`);
  }
  const parts: tf.Tensor4D[] = [];
  let have = 0;
  try {
    let index = 0;
    for await (const batch of data) {
      const x = batchImages(batch, `initialisation batch ${index}`);
      if (batch.labels instanceof tf.Tensor) batch.labels.dispose();
      const take = Math.min(x.shape[0], images - have);
      parts.push(take === x.shape[0] ? x : (tf.slice(x, 0, take) as tf.Tensor4D));
      if (take !== x.shape[0]) x.dispose();
      have += take;
      index += 1;
      if (have >= images) break;
    }
    if (have < 2)
      throw new ConfigError(`initializeFromData: the data stream gave only ${have} images`);
    const all = parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
    try {
      model.initialize(all);
    } finally {
      if (parts.length > 1) all.dispose();
    }
    return have;
  } finally {
    tf.dispose(parts);
  }
}
