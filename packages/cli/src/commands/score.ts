import { dirname, resolve } from 'node:path';
import type { Command } from '../command.js';
import { EVALUATION_SPLIT, parseDataArg } from '../data/data-source.js';
import { QUEUE_HELP, QUEUE_OPTIONS, queueSettings } from '../queue/queue-settings.js';
import { type DatasetOutputs, scoreDataset } from '../scoring/score-dataset.js';
import { scoreColumns, scoresToCsv, writeScores } from '../scoring/score-file.js';
import {
  applyDataFlags,
  loadScoringModels,
  openForScoring,
  SCORING_OPTIONS,
  scoringSettings,
} from '../scoring/scoring-inputs.js';
import { stringFlag } from '../util/args.js';
import { UsageError } from '../util/errors.js';
import { prepareOutputFolder } from '../util/output-folder.js';

/** `hierglow score`: per-example likelihood scores of one dataset, as CSV or JSON. */
export const scoreCommand: Command = {
  name: 'score',
  summary: 'per-example scores of a dataset (log p, bpd, per-scale, ratio, PNG complexity)',
  usage:
    'hierglow score --model CKPT_DIR --data NAME|PATH [--general CKPT_DIR] [--out FILE.csv|.json] [--queue redis://HOST:PORT]',
  options: {
    ...SCORING_OPTIONS,
    data: { type: 'string' },
    split: { type: 'string' },
    out: { type: 'string' },
    ...QUEUE_OPTIONS,
  },
  help: [
    '  --model CKPT_DIR          checkpoint or run folder (its final/, else checkpoint/)',
    '  --general CKPT_DIR        general model: adds general_* columns, ratio and ratio_lp_k',
    "  --background CKPT_DIR     Ren et al.'s background model (train --perturb): adds",
    '                            background_log_p and background_ratio',
    '  --data NAME|PATH          dataset to score (catalogue name or path)',
    '  --split NAME              (default test)',
    '  --limit N                 score only a seeded random subset of N images (the same every run)',
    '  --ignore-labels           read the images only (CIFAR-layout records with any label bytes)',
    '  --noise MODE              bin-centre (default, spec 2.1 final evaluation) | uniform | none',
    '  --batch-size N            (default 256)',
    '  --out FILE                .json writes JSON, anything else CSV; default CSV on stdout',
    ...QUEUE_HELP,
    '                            (default <out>.shards)',
    '',
    'Columns: index, label, log_p (nats), bpd, lp_0..lp_{L-1} (finest first), final_scale,',
    'general_log_p, general_bpd, general_lp_k, ratio, ratio_lp_k (with --general), png_bpd',
    '(PNG bits/dim of the 8-bit image the model sees) and s_score (bpd - png_bpd).',
  ],
  async run({ values, positionals }, io) {
    const source = stringFlag(values, 'data') ?? positionals[0];
    if (!source) throw new UsageError("score needs --data NAME|PATH. See 'hierglow score --help'.");
    const ref = parseDataArg('data', source, stringFlag(values, 'split', EVALUATION_SPLIT));
    applyDataFlags(values, [ref]);
    const { noise, batchSize } = scoringSettings(values);
    const out = stringFlag(values, 'out');
    // Checked before scoring: an unwritable --out must not waste the whole run.
    if (out) prepareOutputFolder('out', dirname(resolve(out)));
    const queue = queueSettings(values, 'score', batchSize, out && `${out}.shards`);
    const models = await loadScoringModels(values, 'score');
    try {
      let outputs: DatasetOutputs;
      if (queue) {
        // BullMQ loads only for queued work, not on every hierglow command.
        const { scoreOnQueue } = await import('../queue/submit.js');
        const scored = await scoreOnQueue({
          queue,
          models,
          refs: [ref],
          noise,
          batchSize,
          signal: io.signal,
          log: (line) => io.err(line),
        });
        outputs = scored.get(ref.name)!;
      } else {
        const { ds, transform } = await openForScoring(ref, models.shape, noise);
        try {
          outputs = await scoreDataset(ds, models.model.model, models.general?.model, {
            transform,
            batchSize,
            label: `score ${ref.name}`,
            signal: io.signal,
            warn: (message) => io.err(message),
            ...(models.background ? { background: models.background.model } : {}),
          });
        } finally {
          await ds.close();
        }
      }
      const columns = scoreColumns(outputs);
      if (out) {
        await writeScores(out, columns);
        io.err(`wrote ${outputs.count} rows to ${out}`);
      } else {
        io.out(scoresToCsv(columns).trimEnd());
      }
    } finally {
      models.dispose();
    }
    return 0;
  },
};
