#!/usr/bin/env node
/**
 * Glow training and scoring throughput: hierglow (tfjs, wasm by default) next to the PyTorch
 * reference of bench/reference/glow_ref.py on CPU with 2 threads, same architecture.
 *
 *   npx turbo run build --filter=@hierglow/glow   # glow, backend-wasm and flow-layers
 *   node bench/glow-bench.mjs                       # small, medium, paper; 3 timed runs each
 *   node bench/glow-bench.mjs --configs small --runs 5 --backend cpu --skip-torch
 *   node bench/glow-bench.mjs --configs paper --no-reversible
 *   node bench/glow-bench.mjs --smoke --skip-torch    # tiny shapes: checks the script runs
 *   node bench/glow-bench.mjs --help
 *
 * - train: forward + backward + Adamax update of the mean discrete NLL (hierglow: one
 *   `Trainer.trainStep`, which also checks the gradients are finite; PyTorch: the same loop).
 * - score: log p(x) without gradients.
 * - train (reversible): the same step with `memory: 'reversible'` (each flow step's input
 *   recomputed from its output in the backward pass), at the batches of REVERSIBLE_ROWS
 *   (configs.mjs): the paper config at 64 and 16, medium at 64, with peak RSS; PyTorch trains
 *   at the same batch.
 * Every (config, mode, implementation) runs in its own process, so each peak RSS is its own and
 * the wasm heap (which never shrinks) starts empty. The first iterations are not timed (XNNPACK
 * operator creation, heap growth); the figure is batch / median step time.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CONFIGS, REVERSIBLE_ROWS, smokeConfig } from './configs.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const { values: args } = parseArgs({
  options: {
    configs: { type: 'string', default: 'small,medium,paper' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: '2' },
    python: { type: 'string', default: '/usr/bin/python3' },
    'skip-torch': { type: 'boolean', default: false },
    'no-reversible': { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    'timeout-minutes': { type: 'string', default: '30' },
    worker: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  console.log(`Usage: node bench/glow-bench.mjs [options]

  --configs LIST         configs from bench/configs.mjs, comma-separated (default small,medium,paper)
  --runs N               timed runs per measurement (default 3)
  --warmup N             untimed runs first (default 1)
  --backend NAME         wasm (default), cpu, node or gpu
  --threads N            wasm threads (default 2)
  --python PATH          python3 with PyTorch for the reference (default /usr/bin/python3)
  --skip-torch           hierglow only
  --no-reversible        leave out the reversible-training rows
  --smoke                tiny shapes, 1 run, no warm-up: checks the script, not the speed
  --timeout-minutes N    per measurement (default 30)

Take numbers on a quiet machine: every measurement is a median of step times.`);
  process.exit(0);
}

/** Dequantised pixels v/256 − 0.5 + u (spec 2.1), NHWC, from a fixed LCG so runs are repeatable. */
function pixels(n, h, w, c, seed) {
  const x = new Float32Array(n * h * w * c);
  let s = seed >>> 0;
  const next = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  for (let i = 0; i < x.length; i++) x[i] = Math.floor(next() * 256) / 256 - 0.5 + next() / 256;
  return x;
}

/** One measurement in this process; prints one JSON line. */
async function worker({ model: modelConfig, mode, batch, runs, warmup, backend, memory }) {
  const { selectBackend, backendInfo } = await import('@hierglow/backend-wasm');
  const tf = await import('@tensorflow/tfjs-core');
  const { createModel, Trainer } = await import('@hierglow/glow');
  await selectBackend(backend);
  const model = createModel(modelConfig);
  const { height: h, width: w, channels: c } = modelConfig;
  // Data-dependent init (spec 3.6) on a small batch, untimed, as a real run starts.
  const initN = Math.min(16, Math.max(batch, 8));
  const init = tf.tensor4d(pixels(initN, h, w, c, 7), [initN, h, w, c]);
  model.initialize(init);
  init.dispose();
  const x = pixels(batch, h, w, c, 1);
  const shape = [batch, h, w, c];
  let step;
  let lastNll = Number.NaN;
  let skipped = 0;
  if (mode === 'train') {
    const trainer = new Trainer(model, { epochs: 1, memory: memory ?? 'autodiff' });
    step = () => {
      const report = trainer.trainStep({ x, shape });
      lastNll = report.nll;
      if (report.skipped) skipped += 1;
    };
  } else {
    const xt = tf.tensor4d(x, shape);
    step = () => {
      const logP = tf.tidy(() => model.logProb(xt).logP.dataSync());
      lastNll = logP.reduce((a, v) => a + (h * w * c * Math.log(256) - v), 0) / logP.length;
    };
  }
  for (let i = 0; i < warmup; i++) step();
  const seconds = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    step();
    seconds.push((performance.now() - t0) / 1000);
  }
  const median = [...seconds].sort((a, b) => a - b)[Math.floor(seconds.length / 2)];
  const info = backendInfo();
  console.log(
    JSON.stringify({
      impl: 'hierglow',
      backend: info.backend,
      simd: info.simd,
      threads: info.threads,
      mode,
      memory: mode === 'train' ? (memory ?? 'autodiff') : null,
      batch,
      seconds,
      medianSeconds: median,
      imagesPerSecond: batch / median,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      meanNll: lastNll,
      skippedSteps: skipped,
      parameters: model.trainableVariables().reduce((n, v) => n + v.size, 0),
      tensorsAlive: tf.memory().numTensors,
    }),
  );
}

/** Runs a command, returns the parsed last JSON line of its stdout, or an error description. */
function runJson(command, argv, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').filter(Boolean).at(-1);
      try {
        if (code === 0 && line) return resolve(JSON.parse(line));
      } catch {}
      const why = signal ? `killed (${signal})` : `exit ${code}`;
      const tail = err.trim().split('\n').at(-1)?.replaceAll('|', '/').slice(0, 160) ?? '';
      resolve({ error: `${why}${tail ? `: ${tail}` : ''}` });
    });
  });
}

const fmt = (v, digits = 1) =>
  typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-';

async function main() {
  const { resolveModelConfig } = await import('@hierglow/glow');
  const names = args.configs.split(',').map((s) => s.trim());
  for (const n of names)
    if (!CONFIGS[n]) throw new Error(`unknown config '${n}' (small, medium, paper)`);
  const configOf = (name) => (args.smoke ? smokeConfig(CONFIGS[name]) : CONFIGS[name]);
  const runs = args.smoke ? 1 : Number(args.runs);
  const warmup = args.smoke ? 0 : Number(args.warmup);
  const timeoutMs = Number(args['timeout-minutes']) * 60_000;
  const loadBefore = loadavg()[0];
  const started = Date.now();
  console.log(
    `Glow throughput: hierglow (${args.backend}) vs PyTorch reference (CPU, ${args.threads} threads); ` +
      `median of ${runs} runs after ${warmup} warm-up; node ${process.versions.node}`,
  );
  console.log(
    `load average before: ${loadBefore.toFixed(2)} (2 cores; > 0.5 means other jobs compete). ` +
      "The 'load avg after' column includes this benchmark's own 2 threads: about 2 means no competition.\n",
  );
  if (args.smoke) console.log('SMOKE MODE: tiny shapes, one run; these timings mean nothing.\n');
  const rows = [];
  const measurements = [];
  for (const name of names) {
    const { train, score } = configOf(name);
    measurements.push({ name, mode: 'score', batch: score, memory: null });
    measurements.push({ name, mode: 'train', batch: train, memory: 'autodiff' });
  }
  if (!args['no-reversible']) {
    for (const row of REVERSIBLE_ROWS.filter((r) => names.includes(r.config))) {
      const batch = args.smoke ? Math.min(row.batch, 4) : row.batch;
      measurements.push({ name: row.config, mode: 'train', batch, memory: 'reversible' });
    }
  }
  for (const { name, mode, batch, memory } of measurements) {
    // Both sides get the fully resolved config (every default spelled out): same architecture.
    const job = {
      model: resolveModelConfig({ ...configOf(name).model, seed: 1 }),
      mode,
      batch,
      runs,
      warmup,
      backend: args.backend,
      ...(memory ? { memory } : {}),
    };
    const ours = await runJson(
      process.execPath,
      [fileURLToPath(import.meta.url), '--worker', JSON.stringify(job)],
      timeoutMs,
    );
    const torch = args['skip-torch']
      ? { error: 'skipped' }
      : await runJson(
          args.python,
          [
            join(here, 'reference', 'bench_torch.py'),
            '--config',
            JSON.stringify(job.model),
            '--mode',
            mode,
            '--batch',
            String(batch),
            '--runs',
            String(runs),
            '--warmup',
            String(warmup),
            '--threads',
            args.threads,
          ],
          timeoutMs,
        );
    const label = memory === 'reversible' ? 'train (reversible)' : mode;
    const row = { name, mode: label, batch, ours, torch, load: loadavg()[0] };
    rows.push(row);
    console.error(
      `${name} ${label} b${batch}: hierglow ${fmt(ours.imagesPerSecond)} img/s${ours.error ? ` (${ours.error})` : ''}, ` +
        `pytorch ${fmt(torch.imagesPerSecond)} img/s${torch.error ? ` (${torch.error})` : ''}`,
    );
  }
  const describe = (name) => {
    const m = configOf(name).model;
    return `${name} (K=${m.stepsPerLevel}, hidden ${m.hidden}, ${m.channels}x${m.height}x${m.width})`;
  };
  console.log(
    `| config | mode | batch | hierglow ${args.backend} img/s | PyTorch ${args.threads}T img/s | ratio | hierglow peak RSS MB | PyTorch peak RSS MB | load avg after |`,
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const ratio = r.ours.imagesPerSecond / r.torch.imagesPerSecond;
    console.log(
      `| ${describe(r.name)} | ${r.mode} | ${r.batch} | ${r.ours.error ? `failed: ${r.ours.error}` : fmt(r.ours.imagesPerSecond)} | ` +
        `${r.torch.error ? r.torch.error : fmt(r.torch.imagesPerSecond)} | ${fmt(ratio, 2)} | ${fmt(r.ours.peakRssMb, 0)} | ${fmt(r.torch.peakRssMb, 0)} | ${fmt(r.load, 2)} |`,
    );
  }
  const ok = rows.find((r) => !r.ours.error);
  console.log('');
  if (ok) {
    console.log(
      `hierglow: backend ${ok.ours.backend}, SIMD ${ok.ours.simd}, threads ${ok.ours.threads ?? '-'} ` +
        '(wasm threads as backend-wasm sets them up under Node); PyTorch: ' +
        `${rows.find((r) => !r.torch.error)?.torch.torchVersion ?? '-'}, ${args.threads} threads.`,
    );
  }
  console.log(
    'paper config: autodiff training at batch 4 and scoring at 64 (not 64 / 256) on both sides, because the wasm heap ' +
      "is capped at 4 GiB; 'train (reversible)' rows keep no per-step activations and run at the paper's batch. " +
      'PyTorch trains with autodiff at every batch.',
  );
  console.log(
    `load average after: ${loadavg()[0].toFixed(2)}; wall time ${((Date.now() - started) / 60000).toFixed(1)} min. ` +
      'Mean NLLs (nats; both finite is the check: hierglow is data-initialised, the reference is not): ' +
      rows
        .map((r) => `${r.name}/${r.mode} ${fmt(r.ours.meanNll, 0)} vs ${fmt(r.torch.meanNll, 0)}`)
        .join(', '),
  );
}

if (args.worker) {
  await worker(JSON.parse(args.worker));
} else {
  await main();
}
