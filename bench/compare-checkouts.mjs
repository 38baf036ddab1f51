#!/usr/bin/env node
/**
 * Before/after throughput of two hierglow checkouts, next to the PyTorch reference, on the same
 * machine in the same minutes:
 *
 *   node bench/compare-checkouts.mjs --before /tmp/hierglow-before            # 2 threads
 *   HIERGLOW_WASM_THREADS=1 node bench/compare-checkouts.mjs --before /tmp/hierglow-before --threads 1
 *
 * `--before` is another checkout of this repository with its packages built (bench/README.md
 * shows how to make one with `git worktree`); "after" is this checkout. For every (config, mode)
 * it runs, one process each and back to back, the before checkout's glow-bench worker, this
 * checkout's, and bench/reference/bench_torch.py, so all three see about the same load (printed
 * per row). `--threads` sets PyTorch's threads; hierglow's come from HIERGLOW_WASM_THREADS
 * (default: one per logical CPU), so set both alike.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CONFIGS } from './configs.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    before: { type: 'string' },
    configs: { type: 'string', default: 'small,medium' },
    threads: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'skip-torch': { type: 'boolean', default: false },
  },
});
if (!args.before) {
  console.error('compare-checkouts.mjs: --before <path of a built checkout> is required');
  process.exit(2);
}

/** Runs a command and parses the last JSON line of its stdout. */
function runJson(command, argv) {
  const r = spawnSync(command, argv, { encoding: 'utf8', timeout: 30 * 60_000 });
  const line = (r.stdout ?? '').trim().split('\n').filter(Boolean).at(-1);
  try {
    return JSON.parse(line);
  } catch {
    return {
      error: (r.stderr ?? '').trim().split('\n').at(-1)?.slice(0, 160) ?? `exit ${r.status}`,
    };
  }
}

const { resolveModelConfig } = await import('@hierglow/glow');
const fmt = (v, d = 1) => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(d) : '-');
const rows = [];
const started = Date.now();
for (const name of args.configs.split(',')) {
  if (!CONFIGS[name]) throw new Error(`unknown config '${name}' (small, medium, paper)`);
  for (const mode of ['score', 'train']) {
    const batch = CONFIGS[name][mode];
    const job = {
      model: resolveModelConfig(CONFIGS[name].model),
      mode,
      batch,
      runs: Number(args.runs),
      warmup: Number(args.warmup),
      backend: 'wasm',
    };
    const row = { name, mode, batch, load: loadavg()[0] };
    for (const [key, dir] of [
      ['before', resolve(args.before)],
      ['after', join(here, '..')],
    ]) {
      row[key] = runJson(process.execPath, [
        join(dir, 'bench', 'glow-bench.mjs'),
        '--worker',
        JSON.stringify(job),
      ]);
    }
    row.torch = args['skip-torch']
      ? { error: 'skipped' }
      : runJson(args.python, [
          join(here, 'reference', 'bench_torch.py'),
          ...['--config', JSON.stringify(job.model), '--mode', mode, '--batch', String(batch)],
          ...['--runs', args.runs, '--warmup', args.warmup, '--threads', args.threads],
        ]);
    row.loadAfter = loadavg()[0];
    rows.push(row);
    console.error(
      `${name} ${mode}: before ${fmt(row.before.imagesPerSecond)}, after ${fmt(row.after.imagesPerSecond)}, ` +
        `pytorch ${fmt(row.torch.imagesPerSecond)} img/s (load ${fmt(row.load, 2)} -> ${fmt(row.loadAfter, 2)})`,
    );
  }
}

const threads = rows.find((r) => r.after.threads)?.after.threads ?? '-';
console.log(
  `hierglow wasm (${threads} threads) before/after vs PyTorch (${args.threads} threads); ` +
    `median of ${args.runs} after ${args.warmup} warm-up; node ${process.versions.node}\n`,
);
console.log(
  '| config | mode | batch | before img/s | after img/s | speed-up | PyTorch img/s | ratio before | ratio after | RSS MB before / after / PyTorch | load avg |',
);
console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|');
for (const r of rows) {
  const [b, a, t] = [r.before.imagesPerSecond, r.after.imagesPerSecond, r.torch.imagesPerSecond];
  const rss = [r.before, r.after, r.torch].map((x) => fmt(x.peakRssMb, 0)).join(' / ');
  console.log(
    `| ${r.name} | ${r.mode} | ${r.batch} | ${fmt(b)} | ${fmt(a)} | ${fmt(a / b, 2)}x | ${fmt(t)} | ` +
      `${fmt(b / t, 2)} | ${fmt(a / t, 2)} | ${rss} | ${fmt(r.load, 2)} -> ${fmt(r.loadAfter, 2)} |`,
  );
}
const errors = rows.flatMap((r) =>
  ['before', 'after', 'torch']
    .filter((k) => r[k].error && r[k].error !== 'skipped')
    .map((k) => `${r.name}/${r.mode}/${k}: ${r[k].error}`),
);
if (errors.length) console.log(`\nerrors: ${errors.join('; ')}`);
console.log(`\nwall time ${((Date.now() - started) / 60_000).toFixed(1)} min`);
