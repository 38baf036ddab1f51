import { pngComplexityBitsPerDim } from '@hierglow/anomaly-metrics';
import { evalBatches, type ImageDataset, type TransformOptions } from '@hierglow/datasets';
import { type AnyModel, ClassConditionalGlow, predictedClasses } from '@hierglow/glow';
import * as tf from '@tensorflow/tfjs-core';
import { UsageError } from '../util/errors.js';
import { ProgressBar } from '../util/progress.js';

/** One model's per-example outputs on a dataset (nats unless the name says bits/dim). */
export interface ModelOutputs {
  logP: Float64Array;
  bitsPerDim: Float64Array;
  /** lp_k per scale, finest first (spec 3.7); they sum to logP. */
  perScale: Float64Array[];
  /** Class-conditional models (spec 6.4): argmax_c log p(x|c) per example (−1: not finite). */
  predictedClass?: Int32Array;
}

/** Everything the scores of one dataset are computed from. */
export interface DatasetOutputs {
  /** The in-distribution (or only) model. */
  model: ModelOutputs;
  /** The general model, when one is given (ratio scores). */
  general?: ModelOutputs;
  /** Ren et al.'s background model, when one is given (background-ratio score). */
  background?: ModelOutputs;
  /** PNG bits/dim of each 8-bit image exactly as the model sees it (Serrà complexity, spec 8). */
  complexity: Float64Array;
  labels?: Int32Array;
  count: number;
}

/** Options of {@link scoreDataset}. */
export interface ScoreOptions {
  transform: TransformOptions;
  batchSize: number;
  /** Progress bar label; none when omitted. */
  label?: string;
  signal?: AbortSignal;
  /** Ren et al.'s background model, scored beside the others. */
  background?: AnyModel;
  /**
   * Score only images [start, end) (a shard of a queued run). `start` must be a multiple of
   * `batchSize`: then every batch, and the noise drawn for it, is one a whole pass scores too,
   * so the numbers equal those of a whole pass bit for bit.
   */
  range?: { start: number; end: number };
  /** Awaited after every batch with the number of images done so far. */
  onBatch?: (done: number) => unknown;
  /** Where a warning about non-finite log-densities goes (see {@link checkFiniteScores}). */
  warn?: (message: string) => void;
}

function emptyOutputs(count: number, model: AnyModel): ModelOutputs {
  const outputs: ModelOutputs = {
    logP: new Float64Array(count),
    bitsPerDim: new Float64Array(count),
    perScale: Array.from({ length: scalesOf(model) }, () => new Float64Array(count)),
  };
  if (model instanceof ClassConditionalGlow) outputs.predictedClass = new Int32Array(count);
  return outputs;
}

function scalesOf(model: AnyModel): number {
  return model.numScales;
}

/** Runs one model on a batch and copies its outputs into `into` from `offset`. */
async function runModel(
  model: AnyModel,
  x: tf.Tensor4D,
  into: ModelOutputs,
  offset: number,
): Promise<void> {
  const r = model.logProb(x);
  const perClass = (r as { logPPerClass?: tf.Tensor2D }).logPPerClass;
  try {
    // `await data()` lets the backend finish without blocking the event loop (progress, Ctrl-C).
    const [logP, bitsPerDim, ...perScale] = await Promise.all(
      [r.logP, r.bitsPerDim, ...r.perScale].map((t) => t.data()),
    );
    into.logP.set(logP!, offset);
    into.bitsPerDim.set(bitsPerDim!, offset);
    perScale.forEach((values, k) => {
      into.perScale[k]!.set(values, offset);
    });
    if (into.predictedClass && perClass)
      into.predictedClass.set(await predictedClasses(perClass), offset);
  } finally {
    tf.dispose(r as unknown as tf.TensorContainer);
  }
}

/**
 * The 8-bit pixels behind model inputs `x = v/256 − 0.5 + u`, for the PNG complexity: u is the
 * bin centre 1/512 (or 0, or noise in [0, 1/256)), and grey conversion may leave v fractional,
 * so v is rounded to the nearest integer.
 */
export function pixelsFromInputs(x: Float32Array, noise: TransformOptions['noise']): Uint8Array {
  const offset = noise === 'bin-centre' ? 0.5 : noise === 'uniform' ? 0.5 : 0;
  const v = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = Math.round((x[i]! + 0.5) * 256 - offset);
    v[i] = Math.max(0, Math.min(255, p));
  }
  return v;
}

/**
 * The first `count` images of `ds` as a dataset of their own, without copying or indexing them
 * (a shard ends there). Closing the view leaves `ds` open.
 */
function firstImages(ds: ImageDataset, count: number): ImageDataset {
  const check = (indices: ArrayLike<number>) => {
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i]!;
      if (!(k >= 0 && k < count)) {
        throw new RangeError(`${ds.description}: image ${k} is outside the first ${count}`);
      }
    }
  };
  const view: { -readonly [K in keyof ImageDataset]: ImageDataset[K] } = {
    description: ds.description,
    count,
    height: ds.height,
    width: ds.width,
    channels: ds.channels,
    provenance: ds.provenance,
    get: (index) => {
      check([index]);
      return ds.get(index);
    },
    slice: (start, end) => {
      check(end > start ? [start, end - 1] : []);
      return ds.slice(start, end);
    },
    gather: (indices) => {
      check(indices);
      return ds.gather(indices);
    },
    close: async () => {},
  };
  if (ds.labels) view.labels = ds.labels.subarray(0, count);
  if (ds.numClasses !== undefined) view.numClasses = ds.numClasses;
  if (ds.classNames) view.classNames = ds.classNames;
  return view;
}

/**
 * Per-example log p(x), bits/dim and per-scale terms of `model` (and `general`) on every image
 * of `ds` (or of `options.range`), in dataset order, plus each image's PNG complexity. Inputs
 * come from `transform` (the final evaluation uses bin-centre values, spec 2.1); batches are
 * freed as they go.
 */
export async function scoreDataset(
  ds: ImageDataset,
  model: AnyModel,
  general: AnyModel | undefined,
  options: ScoreOptions,
): Promise<DatasetOutputs> {
  const { start, end } = options.range ?? { start: 0, end: ds.count };
  if (start % options.batchSize !== 0 || !(start >= 0 && start < end && end <= ds.count)) {
    throw new RangeError(
      `${ds.description}: cannot score images [${start}, ${end}) of ${ds.count} in batches of ${options.batchSize}`,
    );
  }
  const n = end - start;
  const result: DatasetOutputs = {
    model: emptyOutputs(n, model),
    complexity: new Float64Array(n),
    count: n,
  };
  if (general) result.general = emptyOutputs(n, general);
  const background = options.background;
  if (background) result.background = emptyOutputs(n, background);
  if (ds.labels) result.labels = ds.labels.slice(start, end);
  const bar = options.label
    ? new ProgressBar({ total: n, label: options.label, unit: 'img' })
    : null;
  let done = 0;
  for await (const batch of evalBatches(end < ds.count ? firstImages(ds, end) : ds, {
    batchSize: options.batchSize,
    transform: options.transform,
    firstBatch: start / options.batchSize,
  })) {
    if (options.signal?.aborted) break;
    const x = tf.tensor4d(batch.x, batch.shape, 'float32');
    try {
      await runModel(model, x, result.model, done);
      if (general && result.general) await runModel(general, x, result.general, done);
      if (background && result.background) await runModel(background, x, result.background, done);
    } finally {
      x.dispose();
    }
    const [count, h, w, c] = batch.shape;
    const complexity = pngComplexityBitsPerDim({
      data: pixelsFromInputs(batch.x, options.transform.noise),
      shape: [count, h, w, c],
    });
    result.complexity.set(complexity, done);
    done += count;
    bar?.update(done);
    await options.onBatch?.(done);
  }
  bar?.finish();
  if (options.signal?.aborted) throw new AbortedError();
  checkFiniteScores(result.model.logP, 'the model', options);
  if (result.general) checkFiniteScores(result.general.logP, 'the general model', options);
  return result;
}

/**
 * Garbage must not pass for scores: when no image gets a finite log p the model cannot score
 * this data (weights that are finite but useless, as after a diverged run) and scoring stops
 * with an error; when some do not, a warning says how many.
 */
function checkFiniteScores(logP: Float64Array, which: string, options: ScoreOptions): void {
  let bad = 0;
  for (const v of logP) if (!Number.isFinite(v)) bad += 1;
  if (bad === 0) return;
  const what = options.label ? `${options.label.replace(/^score /, '')}: ` : '';
  if (bad === logP.length) {
    throw new UsageError(
      `${what}every one of the ${bad} images got a non-finite log p under ${which}; it cannot score this data (did its training diverge?)`,
      1,
    );
  }
  options.warn?.(
    `warning: ${what}${bad} of ${logP.length} images got a non-finite log p under ${which}; they count as the most anomalous`,
  );
}

/** Scoring stopped by Ctrl-C: exit 130 like an interrupted run (nothing to save, scoring is cheap to redo). */
export class AbortedError extends UsageError {
  constructor() {
    super('interrupted; nothing was written', 130);
  }
}
