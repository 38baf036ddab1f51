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
function runModel(model: AnyModel, x: tf.Tensor4D, into: ModelOutputs, offset: number): void {
  tf.tidy(() => {
    const r = model.logProb(x);
    into.logP.set(r.logP.dataSync(), offset);
    into.bitsPerDim.set(r.bitsPerDim.dataSync(), offset);
    r.perScale.forEach((t, k) => {
      into.perScale[k]!.set(t.dataSync(), offset);
    });
    const perClass = (r as { logPPerClass?: tf.Tensor2D }).logPPerClass;
    if (into.predictedClass && perClass)
      into.predictedClass.set(predictedClasses(perClass), offset);
  });
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
 * Per-example log p(x), bits/dim and per-scale terms of `model` (and `general`) on every image
 * of `ds`, in dataset order, plus each image's PNG complexity. Inputs come from `transform`
 * (the final evaluation uses bin-centre values, spec 2.1); batches are freed as they go.
 */
export async function scoreDataset(
  ds: ImageDataset,
  model: AnyModel,
  general: AnyModel | undefined,
  options: ScoreOptions,
): Promise<DatasetOutputs> {
  const n = ds.count;
  const result: DatasetOutputs = {
    model: emptyOutputs(n, model),
    complexity: new Float64Array(n),
    count: n,
  };
  if (general) result.general = emptyOutputs(n, general);
  if (ds.labels) result.labels = ds.labels.slice(0, n);
  const bar = options.label
    ? new ProgressBar({ total: n, label: options.label, unit: 'img' })
    : null;
  let done = 0;
  for await (const batch of evalBatches(ds, {
    batchSize: options.batchSize,
    transform: options.transform,
  })) {
    if (options.signal?.aborted) break;
    const x = tf.tensor4d(batch.x, batch.shape, 'float32');
    try {
      runModel(model, x, result.model, done);
      if (general && result.general) runModel(general, x, result.general, done);
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
