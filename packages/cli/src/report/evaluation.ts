import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ImageDataset } from '@hierglow/datasets';
import { evalBatches } from '@hierglow/datasets';
import type { AnyModel } from '@hierglow/glow';
import type { NamedDataRef } from '../data/data-source.js';
import type { LoadedModel } from '../model/checkpoint-ref.js';
import { type HistoryFile, readHistory } from '../run/history.js';
import { anomalyScores, type NamedScore } from '../scoring/anomaly-scores.js';
import { type DatasetOutputs, pixelsFromInputs, scoreDataset } from '../scoring/score-dataset.js';
import { scoreColumns, scoresFileText } from '../scoring/score-file.js';
import { openForScoring, type ScoringModels } from '../scoring/scoring-inputs.js';
import { writeFilesAtomic } from '../util/atomic-write.js';
import { UsageError } from '../util/errors.js';
import { reportHtml } from './html.js';
import { gridPng, inputsToPixels } from './image-grid.js';
import { metricsMarkdown } from './markdown.js';
import {
  type DatasetSummary,
  detectionMetrics,
  finiteMean,
  finiteSpearman,
  type MetricsFile,
  metricsHeader,
} from './metrics.js';

/** Settings of {@link runEvaluation}. */
export interface EvaluationSettings {
  models: ScoringModels;
  inData: NamedDataRef;
  ood: NamedDataRef[];
  out: string;
  noise: 'bin-centre' | 'uniform' | 'none';
  batchSize: number;
  /** Model samples in the report (0: none) and their temperature. */
  samples: number;
  temperature: number;
  signal: AbortSignal;
  log(line: string): void;
  /** Outputs scored elsewhere (the shards of a queued run, merged), by set name. */
  scored?: ReadonlyMap<string, DatasetOutputs>;
}

/** The files an evaluation writes into its folder. */
export function evaluationPaths(out: string) {
  return {
    metrics: join(out, 'metrics.json'),
    summary: join(out, 'summary.md'),
    report: join(out, 'report.html'),
    /** Per-example scores of every set, `scores/<name>.csv` (the columns of `hierglow score`). */
    scores: join(out, 'scores'),
  };
}

/** A short name for a checkpoint: its run folder's name (`runs/fmnist/final` → `fmnist`). */
function runName(dir: string): string {
  const base = basename(dir);
  return base === 'final' || base === 'checkpoint' ? basename(dirname(dir)) : base;
}

/** The run folder behind a checkpoint (its parent when that holds history.json). */
async function historyOf(loaded: LoadedModel): Promise<HistoryFile | null> {
  for (const dir of [loaded.dir, dirname(loaded.dir)]) {
    const path = join(dir, 'history.json');
    if (existsSync(path)) return readHistory(path);
  }
  return null;
}

function summarise(ref: NamedDataRef, o: DatasetOutputs, numDims: number): DatasetSummary {
  const s: DatasetSummary = {
    name: ref.name,
    source: ref.source,
    split: ref.split,
    count: o.count,
    meanBpd: finiteMean(o.model.bitsPerDim),
    meanScaleBpd: o.model.perScale.map((lp) => -finiteMean(lp) / (numDims * Math.LN2)),
    nonFinite: o.model.logP.filter((v) => !Number.isFinite(v)).length,
  };
  if (o.general) s.generalMeanBpd = finiteMean(o.general.bitsPerDim);
  return s;
}

/**
 * The test accuracy of a class-conditional model (spec 6.4) on a labelled set: argmax_c
 * log p(x|c) against the labels; undefined for other models or unlabelled data.
 */
function classificationOf(o: DatasetOutputs): MetricsFile['classification'] {
  const predicted = o.model.predictedClass;
  if (!predicted || !o.labels || o.count === 0) return undefined;
  let correct = 0;
  for (let i = 0; i < o.count; i++) if (predicted[i] === o.labels[i]) correct++;
  return { accuracy: correct / o.count, count: o.count };
}

/** The first `n` images of a dataset as the model sees them, tiled. */
async function exampleGrid(
  ds: ImageDataset,
  transform: Parameters<typeof evalBatches>[1]['transform'],
  n: number,
) {
  for await (const b of evalBatches(ds, { batchSize: Math.min(n, ds.count), transform })) {
    const [count, height, width, channels] = b.shape;
    return gridPng(
      { pixels: pixelsFromInputs(b.x, transform.noise), count, height, width, channels },
      8,
    );
  }
  throw new Error('unreachable: the dataset is not empty');
}

async function sampleGrid(model: AnyModel, n: number, temperature: number) {
  const x = model.sample(n, { temperature, seed: 20191120 });
  try {
    const [count, height, width, channels] = x.shape;
    const pixels = inputsToPixels(await x.data());
    return gridPng({ pixels, count, height, width, channels }, 8);
  } finally {
    x.dispose();
  }
}

/**
 * Scores the in-distribution set and every OOD set with every score, and writes
 * `metrics.json`, `summary.md`, `report.html` and `scores/<set>.csv` into `out`, all together
 * at the end. Returns the metrics.
 */
export async function runEvaluation(s: EvaluationSettings): Promise<MetricsFile> {
  const { models } = s;
  const refs = [s.inData, ...s.ood];
  const paths = evaluationPaths(s.out);
  const perSet: { ref: NamedDataRef; outputs: DatasetOutputs; scores: NamedScore[] }[] = [];
  const examples: { dataset: string; png: Uint8Array; width: number }[] = [];
  const scoreFiles: { path: string; data: string }[] = [];
  // Every set is opened (and checked against the model) before any is scored, so a bad
  // --ood path fails at once, not after minutes of scoring the sets before it.
  const opened: Awaited<ReturnType<typeof openForScoring>>[] = [];
  try {
    for (const ref of refs) opened.push(await openForScoring(ref, models.shape, s.noise));
  } catch (e) {
    await Promise.all(opened.map((o) => o.ds.close()));
    throw e;
  }
  try {
    for (const [i, ref] of refs.entries()) {
      const { ds, transform } = opened[i]!;
      const started = performance.now();
      const queued = s.scored?.get(ref.name);
      const outputs =
        queued ??
        (await scoreDataset(ds, models.model.model, models.general?.model, {
          transform,
          batchSize: s.batchSize,
          label: `score ${ref.name}`,
          signal: s.signal,
          warn: s.log,
          ...(models.background ? { background: models.background.model } : {}),
        }));
      const secs = (performance.now() - started) / 1000;
      s.log(
        `${ref.name}: ${outputs.count} images ${queued ? 'scored by queue workers' : `scored in ${secs.toFixed(1)} s`}, mean bpd ${finiteMean(outputs.model.bitsPerDim).toFixed(4)}`,
      );
      perSet.push({ ref, outputs, scores: anomalyScores(outputs) });
      const scoresPath = join(paths.scores, `${ref.name}.csv`);
      scoreFiles.push({
        path: scoresPath,
        data: scoresFileText(scoresPath, scoreColumns(outputs)),
      });
      const grid = await exampleGrid(ds, transform, Math.min(16, ds.count));
      examples.push({ dataset: ref.name, ...grid });
    }
  } finally {
    await Promise.all(opened.map((o) => o.ds.close()));
  }
  const [inSet, ...oodSets] = perSet;
  if (!inSet || oodSets.length === 0) throw new UsageError('evaluate needs at least one --ood set');
  const metrics: MetricsFile['metrics'] = {};
  const descriptions: Record<string, string> = {};
  for (const score of inSet.scores) {
    descriptions[score.name] = score.description;
    metrics[score.name] = {};
    for (const o of oodSets) {
      const outScore = o.scores.find((x) => x.name === score.name)!;
      metrics[score.name]![o.ref.name] = detectionMetrics(score.values, outScore.values);
    }
  }
  const numDims = models.model.model.numDims;
  const file: MetricsFile = {
    ...metricsHeader(models.model.dir, models.general?.dir ?? null, s.noise),
    ...(models.background ? { background: models.background.dir } : {}),
    inDistribution: summarise(inSet.ref, inSet.outputs, numDims),
    ood: oodSets.map((o) => summarise(o.ref, o.outputs, numDims)),
    scores: descriptions,
    metrics,
    rankCorrelation: models.general
      ? Object.fromEntries(
          perSet.map((p) => [
            p.ref.name,
            finiteSpearman(p.outputs.model.logP, p.outputs.general!.logP),
          ]),
        )
      : null,
  };
  const classification = classificationOf(inSet.outputs);
  if (classification) {
    file.classification = classification;
    s.log(
      `${inSet.ref.name}: test accuracy ${(100 * classification.accuracy).toFixed(2)} % (argmax_c log p(x|c), ${classification.count} images)`,
    );
  }

  let samples: { temperature: number; png: Uint8Array; width: number; model: string } | undefined;
  if (s.samples > 0) {
    const grid = await sampleGrid(models.model.model, s.samples, s.temperature);
    samples = { temperature: s.temperature, model: models.model.dir, ...grid };
  }
  const histories: { name: string; history: HistoryFile }[] = [];
  for (const [role, loaded] of [
    ['model', models.model],
    ['general', models.general],
    ['background', models.background],
  ] as const) {
    const h = loaded ? await historyOf(loaded) : null;
    if (h && loaded) histories.push({ name: `${role} ${runName(loaded.dir)}`, history: h });
  }
  const report = reportHtml({
    metrics: file,
    scores: perSet.map((p) => ({ dataset: p.ref.name, scores: p.scores })),
    examples,
    ...(samples ? { samples } : {}),
    histories,
  });
  // All or nothing, metrics.json last: an evaluation that fails (a full disk) leaves no
  // metrics without the report and the scores they summarise.
  await writeFilesAtomic([
    ...scoreFiles,
    { path: paths.report, data: report },
    { path: paths.summary, data: metricsMarkdown(file) },
    { path: paths.metrics, data: `${JSON.stringify(file, null, 2)}\n` },
  ]);
  return file;
}
