import type { Command, CommandIO } from '../command.js';
import { EVALUATION_SPLIT, type NamedDataRef, parseDataArg } from '../data/data-source.js';
import { QUEUE_HELP, QUEUE_OPTIONS, queueSettings } from '../queue/queue-settings.js';
import { type EvaluationSettings, evaluationPaths, runEvaluation } from '../report/evaluation.js';
import { markdownTable } from '../report/markdown.js';
import type { MetricsFile } from '../report/metrics.js';
import { RunLog } from '../run/run-log.js';
import {
  applyDataFlags,
  loadScoringModels,
  SCORING_OPTIONS,
  scoringSettings,
  uniqueNames,
} from '../scoring/scoring-inputs.js';
import { numberFlag, requiredStringFlag } from '../util/args.js';
import { UsageError } from '../util/errors.js';
import { prepareOutputFolder } from '../util/output-folder.js';

/** The AUROC table (%) printed at the end of an evaluation: scores × OOD sets. */
export function aurocTable(m: MetricsFile, scores?: string[]): string {
  const ood = m.ood.map((o) => o.name);
  const names = scores?.filter((s) => s in m.metrics) ?? Object.keys(m.metrics);
  return markdownTable(
    ['AUROC %', ...ood],
    names.map((s) => [s, ...ood.map((o) => (100 * m.metrics[s]![o]!.auroc).toFixed(1))]),
  );
}

function oodArgs(values: Record<string, unknown>): string[] {
  const v = values.ood;
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

/** Resolves the flags of `hierglow evaluate` and runs it. */
export async function evaluateFromFlags(
  values: Record<string, unknown>,
  io: CommandIO,
): Promise<MetricsFile> {
  const inArg = requiredStringFlag(
    values,
    'in',
    'evaluate',
    'NAME|PATH[@SPLIT] (the in-distribution test set)',
  );
  const out = requiredStringFlag(
    values,
    'out',
    'evaluate',
    'DIR (where metrics.json and report.html go)',
  );
  const ood = oodArgs(values);
  if (ood.length === 0) {
    throw new UsageError(
      "evaluate needs at least one --ood NAME|PATH[@SPLIT]. See 'hierglow evaluate --help'.",
    );
  }
  const refs: NamedDataRef[] = [
    parseDataArg('in', inArg, EVALUATION_SPLIT),
    ...ood.map((o) => parseDataArg('ood', o, EVALUATION_SPLIT)),
  ];
  applyDataFlags(values, refs);
  uniqueNames(refs);
  const { noise, batchSize } = scoringSettings(values);
  // Checked before scoring: an unwritable --out must not waste the whole evaluation.
  prepareOutputFolder('out', out);
  const queue = queueSettings(values, 'evaluate', batchSize, `${out}/shards`);
  const models = await loadScoringModels(values, 'evaluate');
  const log = new RunLog(`${out}/log.txt`, io);
  try {
    const settings: EvaluationSettings = {
      models,
      inData: refs[0]!,
      ood: refs.slice(1),
      out,
      noise,
      batchSize,
      samples: numberFlag(values, 'samples', 32, { min: 0, integer: true }),
      temperature: numberFlag(values, 'temperature', 0.7, { min: 0 }),
      signal: io.signal,
      log: (line) => log.line(line),
    };
    log.line(
      `hierglow evaluate: ${refs[0]!.name} vs ${refs
        .slice(1)
        .map((r) => r.name)
        .join(', ')} with ${models.model.dir}` +
        (models.general ? ` and general ${models.general.dir}` : '') +
        (models.background ? ` and background ${models.background.dir}` : ''),
    );
    if (queue) {
      // BullMQ loads only for queued work, not on every hierglow command.
      const { scoreOnQueue } = await import('../queue/submit.js');
      const { signal, log } = settings;
      settings.scored = await scoreOnQueue({ queue, models, refs, noise, batchSize, signal, log });
    }
    const metrics = await runEvaluation(settings);
    const p = evaluationPaths(out);
    log.line(`wrote ${p.metrics}, ${p.summary}, ${p.report} and ${p.scores}/`);
    return metrics;
  } finally {
    models.dispose();
  }
}

/** `hierglow evaluate`: in-distribution test set vs OOD sets, every score, metrics and report. */
export const evaluateCommand: Command = {
  name: 'evaluate',
  summary:
    'AUROC / AUPR / FPR@95 of every score against OOD sets; metrics.json, summary.md, report.html',
  usage:
    'hierglow evaluate --model CKPT_DIR --in NAME|PATH[@SPLIT] --ood NAME|PATH[@SPLIT] ... --out DIR [--queue redis://HOST:PORT]',
  options: {
    ...SCORING_OPTIONS,
    in: { type: 'string' },
    ood: { type: 'string', multiple: true },
    out: { type: 'string' },
    samples: { type: 'string' },
    temperature: { type: 'string' },
    ...QUEUE_OPTIONS,
  },
  help: [
    '  --model CKPT_DIR          in-distribution model: checkpoint or run folder',
    '  --general CKPT_DIR        general model: adds ratio and per-scale ratio scores',
    "  --background CKPT_DIR     Ren et al.'s background model (train --perturb): adds the",
    '                            background-ratio score',
    '  --in [NAME=]SOURCE[@SPLIT]   in-distribution set (split default test)',
    '  --ood [NAME=]SOURCE[@SPLIT]  an OOD set; repeat for more (e.g. --ood digits=ood/digits.hgds)',
    '  --out DIR                 metrics.json, summary.md, report.html, scores/<set>.csv, log.txt',
    '  --limit N                 a seeded random subset of N images of every set (the same every run)',
    '  --ignore-labels           read every set without labels (CIFAR-layout records with any',
    '                            label bytes; no classification accuracy)',
    "  --noise MODE              bin-centre (default: x = v/256 - 0.5 + 1/512, the reference's",
    '                            final evaluation, spec 2.1) | uniform (dequantisation noise,',
    '                            seeded 20191120) | none',
    '  --batch-size N            (default 256)',
    '  --samples N               model samples shown in the report (default 32; 0 = none)',
    '  --temperature T           sampling temperature (default 0.7)',
    ...QUEUE_HELP,
    '                            (default <out>/shards)',
    '',
    'Scores (higher = more in-distribution): raw (log p), final-scale, scale-k, ratio,',
    'ratio-scale-k (with --general), complexity (-PNG bits/dim), s-score (PNG bits/dim - bpd).',
    'Metrics per score and OOD set: auroc, aupr_in, aupr_out, fpr95 (fractions in metrics.json).',
  ],
  async run({ values }, io) {
    const metrics = await evaluateFromFlags(values, io);
    io.out(aurocTable(metrics));
    if (metrics.classification) {
      io.out(
        `test accuracy ${(100 * metrics.classification.accuracy).toFixed(2)} % (${metrics.classification.count} images)`,
      );
    }
    return 0;
  },
};
