import { dirname, resolve } from 'node:path';
import type { Command } from '../command.js';
import { scoreDataset } from '../scoring/score-dataset.js';
import { scoreColumns, scoresToCsv, writeScores } from '../scoring/score-file.js';
import {
  limitOf,
  loadScoringModels,
  openForScoring,
  parseDataArg,
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
    'hierglow score --model CKPT_DIR --data NAME|PATH [--general CKPT_DIR] [--out FILE.csv|.json]',
  options: {
    ...SCORING_OPTIONS,
    data: { type: 'string' },
    split: { type: 'string' },
    out: { type: 'string' },
  },
  help: [
    '  --model CKPT_DIR          checkpoint or run folder (its final/, else checkpoint/)',
    '  --general CKPT_DIR        general model: adds general_* columns, ratio and ratio_lp_k',
    '  --data NAME|PATH          dataset to score (catalogue name or path)',
    '  --split NAME              (default test)',
    '  --limit N                 score only the first N images',
    '  --noise MODE              bin-centre (default, spec 2.1 final evaluation) | uniform | none',
    '  --batch-size N            (default 256)',
    '  --out FILE                .json writes JSON, anything else CSV; default CSV on stdout',
    '',
    'Columns: index, label, log_p (nats), bpd, lp_0..lp_{L-1} (finest first), final_scale,',
    'general_log_p, general_bpd, general_lp_k, ratio, ratio_lp_k (with --general), png_bpd',
    '(PNG bits/dim of the 8-bit image the model sees) and s_score (bpd - png_bpd).',
  ],
  async run({ values, positionals }, io) {
    const source = stringFlag(values, 'data') ?? positionals[0];
    if (!source) throw new UsageError("score needs --data NAME|PATH. See 'hierglow score --help'.");
    const ref = parseDataArg('data', source, stringFlag(values, 'split', 'test'));
    const limit = limitOf(values);
    if (limit !== undefined) ref.limit = limit;
    const { noise, batchSize } = scoringSettings(values);
    const out = stringFlag(values, 'out');
    // Checked before scoring: an unwritable --out must not waste the whole run.
    if (out) prepareOutputFolder('out', dirname(resolve(out)));
    const models = await loadScoringModels(values, 'score');
    try {
      const { ds, transform } = await openForScoring(ref, models.shape, noise);
      try {
        const outputs = await scoreDataset(ds, models.model.model, models.general?.model, {
          transform,
          batchSize,
          label: `score ${ref.name}`,
          signal: io.signal,
          warn: (message) => io.err(message),
        });
        const columns = scoreColumns(outputs);
        if (out) {
          await writeScores(out, columns);
          io.err(`wrote ${outputs.count} rows to ${out}`);
        } else {
          io.out(scoresToCsv(columns).trimEnd());
        }
      } finally {
        await ds.close();
      }
    } finally {
      models.dispose();
    }
    return 0;
  },
};
