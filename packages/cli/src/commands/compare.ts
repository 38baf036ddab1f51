import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from '../command.js';
import { comparisonTable } from '../report/comparison.js';
import type { MetricsFile } from '../report/metrics.js';
import { stringFlag } from '../util/args.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UsageError } from '../util/errors.js';

/** Reads an evaluation's metrics.json (or the file inside an evaluation folder). */
function readMetrics(arg: string): { name: string; metrics: MetricsFile } {
  const eq = arg.indexOf('=');
  if (eq <= 0)
    throw new UsageError(`compare: '${arg}' is not NAME=EVAL_DIR (or NAME=metrics.json)`);
  const name = arg.slice(0, eq);
  const source = arg.slice(eq + 1);
  const path = source.endsWith('.json') ? source : join(source, 'metrics.json');
  if (!existsSync(path)) throw new UsageError(`compare: ${path} does not exist`, 1);
  let metrics: MetricsFile;
  try {
    metrics = JSON.parse(readFileSync(path, 'utf8')) as MetricsFile;
  } catch (e) {
    throw new UsageError(`compare: ${path} is not JSON (${(e as Error).message})`, 1);
  }
  if (metrics.format !== 'hierglow-metrics' || !metrics.metrics || !metrics.inDistribution)
    throw new UsageError(`compare: ${path} is not a hierglow evaluate metrics.json`, 1);
  return { name, metrics };
}

/** `hierglow compare`: the comparison table of several evaluations of the same sets. */
export const compareCommand: Command = {
  name: 'compare',
  summary: 'one Markdown table of several evaluations (AUROC with 95 % intervals, ρ, bits/dim)',
  usage: 'hierglow compare NAME=EVAL_DIR [NAME=EVAL_DIR ...] [--out FILE.md]',
  options: { out: { type: 'string' } },
  noBackend: true,
  help: [
    '  NAME=EVAL_DIR             an evaluate --out folder (or its metrics.json), shown as NAME',
    '  --out FILE.md             write the table there (default: stdout)',
    'Every evaluation must have the same in-distribution and OOD sets (names as in evaluate).',
  ],
  async run({ values, positionals }, io) {
    if (positionals.length === 0)
      throw new UsageError("compare needs NAME=EVAL_DIR arguments. See 'hierglow compare --help'.");
    const results = positionals.map(readMetrics);
    const sets = (m: MetricsFile) => [m.inDistribution.name, ...m.ood.map((o) => o.name)].join(',');
    const first = sets(results[0]!.metrics);
    for (const r of results) {
      if (sets(r.metrics) !== first)
        throw new UsageError(
          `compare: ${r.name} evaluates ${sets(r.metrics)}, the first one ${first}; compare evaluations of the same sets`,
          1,
        );
    }
    const table = comparisonTable(results);
    const out = stringFlag(values, 'out');
    if (out) await writeFileAtomic(out, table);
    else io.out(table.trimEnd());
    return 0;
  },
};
