#!/usr/bin/env node
/**
 * Before/after *instruction counts* of a Glow scoring batch or training step, for two checkouts:
 * a verdict that does not depend on what else the machine is doing. Timings on the shared 2-core
 * machines swing by tens of percent with the load; valgrind's instruction count (callgrind `Ir`,
 * which counts the JIT's and the wasm tiers' code like any other) repeats to about 0.2 %.
 *
 *   node bench/instruction-counts.mjs --before /path/to/built/checkout [--configs small,medium]
 *   node bench/instruction-counts.mjs --configs small --modes train,train-reversible   # one checkout
 *
 * Modes: score, train (autodiff) and train-reversible (`memory: 'reversible'`, ADR 0007): the
 * ratio of a config's train and train-reversible counts is the load-independent estimate of
 * reversible's throughput relative to autodiff's. Without --before only --after is measured.
 *
 * For every (config, mode) and checkout it runs that checkout's glow-bench worker twice under
 * `valgrind --tool=callgrind`, with 1 and with 1 + N timed steps (no warm-up), one wasm thread,
 * and reports (Ir(1 + N) − Ir(1)) / N: the instructions of one steady-state batch, with start-up,
 * module compilation and the first step's one-off work cancelled out. It counts instructions, not
 * time: memory stalls and thread-pool waits do not show, so it complements compare-checkouts.mjs
 * (which times both checkouts interleaved), it does not replace it. Slow: valgrind runs node
 * ~40x slower (small config: ~1.5 min per process; medium: ~5 min).
 */
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CONFIGS } from './configs.mjs';

const { values: args } = parseArgs({
  options: {
    before: { type: 'string' },
    after: { type: 'string', default: join(dirname(fileURLToPath(import.meta.url)), '..') },
    configs: { type: 'string', default: 'small,medium' },
    modes: { type: 'string', default: 'score,train' },
    steps: { type: 'string', default: '1' },
  },
});
if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('instruction-counts.mjs: valgrind is not installed (apt-get install valgrind)');
  process.exit(2);
}

/** callgrind's instruction count of one worker process. */
function instructions(checkout, job) {
  const r = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--callgrind-out-file=/dev/null',
      // V8 writes and rewrites code in anonymous memory: without this valgrind runs stale copies.
      '--smc-check=all-non-file',
      process.execPath,
      join(checkout, 'bench', 'glow-bench.mjs'),
      '--worker',
      JSON.stringify(job),
    ],
    {
      cwd: tmpdir(),
      encoding: 'utf8',
      env: { ...process.env, HIERGLOW_WASM_THREADS: '1' },
      maxBuffer: 64 << 20,
    },
  );
  const collected = /Collected\s*:\s*(\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !collected) {
    const last = (r.stderr ?? '').trim().split('\n').at(-1);
    throw new Error(`${checkout}: worker under valgrind failed (exit ${r.status}): ${last}`);
  }
  return Number(collected[1]);
}

const { resolveModelConfig } = await import('@hierglow/glow');
const steps = Number(args.steps);
const rows = [];
for (const name of args.configs.split(',')) {
  if (!CONFIGS[name]) throw new Error(`unknown config '${name}' (${Object.keys(CONFIGS)})`);
  for (const mode of args.modes.split(',')) {
    if (!['score', 'train', 'train-reversible'].includes(mode)) {
      throw new Error(`unknown mode '${mode}' (score, train, train-reversible)`);
    }
    const reversible = mode === 'train-reversible';
    const batch = CONFIGS[name][reversible ? 'train' : mode];
    const job = (runs) => ({
      model: resolveModelConfig(CONFIGS[name].model),
      mode: reversible ? 'train' : mode,
      batch,
      runs,
      warmup: 0,
      backend: 'wasm',
      ...(reversible ? { memory: 'reversible' } : {}),
    });
    const row = { name, mode, batch };
    const checkouts = [['after', resolve(args.after)]];
    if (args.before) checkouts.unshift(['before', resolve(args.before)]);
    for (const [key, dir] of checkouts) {
      const one = instructions(dir, job(1));
      const more = instructions(dir, job(1 + steps));
      row[key] = (more - one) / steps;
      console.error(`${name} ${mode} ${key}: ${(row[key] / 1e9).toFixed(3)} G instructions/batch`);
    }
    rows.push(row);
  }
}

console.log(
  `instructions per steady-state batch (callgrind Ir, 1 wasm thread, (Ir(1+${steps}) - Ir(1))/${steps}); node ${process.versions.node}\n`,
);
if (args.before) {
  console.log('| config | mode | batch | before (G) | after (G) | after / before |');
  console.log('|---|---|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${r.mode} | ${r.batch} | ${(r.before / 1e9).toFixed(3)} | ${(r.after / 1e9).toFixed(3)} | ${(r.after / r.before).toFixed(4)} |`,
    );
  }
} else {
  console.log('| config | mode | batch | G instructions |');
  console.log('|---|---|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.name} | ${r.mode} | ${r.batch} | ${(r.after / 1e9).toFixed(3)} |`);
  }
}
// Where both training modes were measured: autodiff's instructions over reversible's, the
// estimate of reversible's throughput as a fraction of autodiff's.
for (const key of args.before ? ['before', 'after'] : ['after']) {
  for (const name of new Set(rows.map((r) => r.name))) {
    const a = rows.find((r) => r.name === name && r.mode === 'train');
    const b = rows.find((r) => r.name === name && r.mode === 'train-reversible');
    if (a && b) {
      console.log(
        `${name} ${key}: train / train-reversible instructions = ${(a[key] / b[key]).toFixed(3)}`,
      );
    }
  }
}
