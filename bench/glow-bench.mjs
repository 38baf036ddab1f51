#!/usr/bin/env node
/**
 * Glow training and scoring throughput: hierglow (tfjs, wasm by default) next to the PyTorch
 * reference of bench/reference/glow_ref.py on CPU, same architecture, same weights, same images.
 *
 *   npm run build -w @hierglow/flow-layers -w @hierglow/backend-wasm -w @hierglow/glow
 *   node bench/glow-bench.mjs                          # small, medium, paper; 3 repeats
 *   node bench/glow-bench.mjs --configs paper --repeats 5
 *   node bench/glow-bench.mjs --configs small --backend cpu --skip-torch
 *   node bench/glow-bench.mjs --smoke                  # tiny shapes: checks the script runs
 *   node bench/glow-bench.mjs --help
 *
 * - train: forward + backward + Adamax update of the mean discrete NLL (hierglow: one
 *   `Trainer.trainStep`, which also checks the gradients are finite; PyTorch: the same loop).
 * - score: log p(x) without gradients.
 * - train (reversible): the same step with `memory: 'reversible'` (each flow step's input
 *   recomputed from its output in the backward pass), at the batches of REVERSIBLE_ROWS
 *   (configs.mjs); the peers train at the same batch with autodiff.
 *
 * Same model on both sides: per config, a child process builds the hierglow model,
 * data-initialises its ActNorms (spec 3.6) on 16 images and saves it as a checkpoint with the
 * input images; every hierglow worker restores that checkpoint and every PyTorch peer loads it
 * with glow_ref.load_checkpoint (the mapping check-parity.mjs checks). The first step's NLLs
 * of both sides are printed as the check that they compute the same thing.
 *
 * PyTorch peers: `plain` (as installed), `tuned` (GLIBC_TUNABLES keeping freed memory mapped,
 * torch.set_flush_denormal(True)) and `jemalloc` (Debian's libjemalloc2 by LD_PRELOAD, flush
 * denormal), the last only where the library is found. Ratios are against the fastest peer.
 *
 * Every (config, mode, implementation) runs in its own process, so each peak RSS is its own and
 * the wasm heap (which never shrinks) starts empty; a row's processes run interleaved (hierglow,
 * then each peer, `--repeats` times), since PyTorch's timings move by up to 3x between runs on
 * shared VMs. A process's figure is batch / median step time after the warm-up steps; the table
 * gives the median and the best of the repeats.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CONFIGS, REVERSIBLE_ROWS, smokeConfig } from './configs.mjs';
import { encodeSafetensorsF32 } from './reference/safetensors.mjs';
import { pixels } from './step-data.mjs';

const here = dirname(fileURLToPath(import.meta.url));

/** The environment variable naming a python3 that has PyTorch (else /usr/bin/python3, python3). */
const PYTHON_ENV_VAR = 'HIERGLOW_TORCH_PYTHON';
const TUNED_GLIBC = 'glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296';
const JEMALLOC_PATHS = [
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/libjemalloc.so.2',
  '/usr/local/lib/libjemalloc.so.2',
];
const INIT_IMAGES = 16;

const { values: args } = parseArgs({
  options: {
    configs: { type: 'string', default: 'small,medium,paper' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    repeats: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', default: '2' },
    python: { type: 'string' },
    peers: { type: 'string', default: 'plain,tuned,jemalloc' },
    'skip-torch': { type: 'boolean', default: false },
    'no-reversible': { type: 'boolean', default: false },
    'only-reversible': { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    json: { type: 'string' },
    'timeout-minutes': { type: 'string', default: '30' },
    worker: { type: 'string' },
    prepare: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  console.log(`Usage: node bench/glow-bench.mjs [options]

  --configs LIST         configs from bench/configs.mjs, comma-separated (default small,medium,paper)
  --runs N               timed steps per process (default 3)
  --warmup N             untimed steps first (default 1)
  --repeats N            interleaved repetitions of each row (default 3): median and best of N
  --backend NAME         wasm (default), cpu, node or gpu
  --threads N            PyTorch threads (default 2; wasm threads: HIERGLOW_WASM_THREADS)
  --python PATH          python3 with PyTorch (default: $${PYTHON_ENV_VAR}, else the first of
                         /usr/bin/python3, python3 that imports torch)
  --peers LIST           PyTorch peers: plain, tuned, jemalloc (default all; jemalloc only
                         where libjemalloc.so.2 is found)
  --skip-torch           hierglow only
  --no-reversible        leave out the reversible-training rows
  --only-reversible      only the reversible rows and the autodiff rows they are compared with
  --smoke                tiny shapes, 1 run, 1 repeat, no warm-up: checks the script, not the speed
  --json FILE            also write every process's result to FILE
  --timeout-minutes N    per process (default 30)

Take numbers on a quiet machine.`);
  process.exit(0);
}

/**
 * The shared starting point of one config: the model data-initialised on INIT_IMAGES images
 * (seed 7) and saved to `dir/checkpoint`, and `batch` images (seed 1; the LCG fills them in
 * order, so any smaller batch is their prefix) saved to `dir/images.safetensors` for the peers.
 */
async function prepare({ model: modelConfig, dir, batch, backend }) {
  const { selectBackend } = await import('@hierglow/backend-wasm');
  const tf = await import('@tensorflow/tfjs-core');
  const { createModel, saveCheckpoint } = await import('@hierglow/glow');
  await selectBackend(backend);
  const model = createModel(modelConfig);
  const { height: h, width: w, channels: c } = modelConfig;
  const init = tf.tensor4d(pixels(INIT_IMAGES, h, w, c, 7), [INIT_IMAGES, h, w, c]);
  model.initialize(init);
  init.dispose();
  await saveCheckpoint(join(dir, 'checkpoint'), {
    model,
    metadata: { training: { purpose: 'glow-bench starting point' } },
  });
  const images = pixels(batch, h, w, c, 1);
  writeFileSync(
    join(dir, 'images.safetensors'),
    encodeSafetensorsF32({ x: { shape: [batch, h, w, c], data: images } }),
  );
  console.log(JSON.stringify({ ok: true }));
}

/** The wasm backend's heap in MB (what its 4 GiB cap applies to), or null on other backends. */
function wasmHeapMb(tf) {
  const backend = tf.backend();
  const memory = backend?.wasm?.wasmMemory ?? backend?.wasm?.asm?.memory;
  return memory?.buffer ? memory.buffer.byteLength / 2 ** 20 : null;
}

/**
 * One measurement in this process; prints one JSON line. With `checkpoint` the model is
 * restored from it, else built from `model` and data-initialised here (how compare-checkouts.mjs
 * calls older checkouts' workers).
 */
async function worker({
  model: modelConfig,
  checkpoint,
  mode,
  batch,
  runs,
  warmup,
  backend,
  memory,
}) {
  const { selectBackend, backendInfo } = await import('@hierglow/backend-wasm');
  const tf = await import('@tensorflow/tfjs-core');
  const { createModel, restoreModel, Trainer } = await import('@hierglow/glow');
  await selectBackend(backend);
  let model;
  if (checkpoint) {
    ({ model } = await restoreModel(checkpoint, createModel));
  } else {
    model = createModel(modelConfig);
    const { height: h, width: w, channels: c } = modelConfig;
    const initN = Math.min(16, Math.max(batch, 8));
    const init = tf.tensor4d(pixels(initN, h, w, c, 7), [initN, h, w, c]);
    model.initialize(init);
    init.dispose();
  }
  const { height: h, width: w, channels: c } = model.getConfig();
  const x = pixels(batch, h, w, c, 1);
  const shape = [batch, h, w, c];
  let step;
  const nlls = [];
  let skipped = 0;
  if (mode === 'train') {
    const trainer = new Trainer(model, { epochs: 1, memory: memory ?? 'autodiff' });
    step = () => {
      const report = trainer.trainStep({ x, shape });
      nlls.push(report.nll);
      if (report.skipped) skipped += 1;
    };
  } else {
    const xt = tf.tensor4d(x, shape);
    step = () => {
      const logP = tf.tidy(() => model.logProb(xt).logP.dataSync());
      nlls.push(logP.reduce((a, v) => a + (h * w * c * Math.log(256) - v), 0) / logP.length);
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
      simdKernelsVariant: info.simdKernelsVariant ?? null,
      threads: info.threads,
      mode,
      memory: mode === 'train' ? (memory ?? 'autodiff') : null,
      batch,
      seconds,
      medianSeconds: median,
      imagesPerSecond: batch / median,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      wasmHeapMb: wasmHeapMb(tf),
      meanNll: nlls.at(-1),
      firstNll: nlls[0],
      skippedSteps: skipped,
      parameters: model.trainableVariables().reduce((n, v) => n + v.size, 0),
      tensorsAlive: tf.memory().numTensors,
    }),
  );
}

/** Runs a command, returns the parsed last JSON line of its stdout, or an error description. */
function runJson(command, argv, timeoutMs, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      resolve({ error: e.message });
    });
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

/** The python3 to run the peers with, and how it was chosen; null when none imports torch. */
function findPython() {
  const explicit = args.python ?? process.env[PYTHON_ENV_VAR];
  const candidates = explicit ? [explicit] : ['/usr/bin/python3', 'python3'];
  for (const python of candidates) {
    const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], {
      encoding: 'utf8',
    });
    if (probe.status === 0) return { python, torchVersion: probe.stdout.trim() };
  }
  return { python: null, tried: candidates };
}

/** The peers asked for and available: name, environment changes, extra arguments. */
function peerVariants() {
  const asked = args.peers.split(',').map((s) => s.trim());
  const clean = { ...process.env };
  delete clean.GLIBC_TUNABLES;
  delete clean.LD_PRELOAD;
  const jemalloc = JEMALLOC_PATHS.find((p) => existsSync(p));
  const all = {
    plain: { env: clean, argv: [] },
    tuned: { env: { ...clean, GLIBC_TUNABLES: TUNED_GLIBC }, argv: ['--flush-denormal'] },
    jemalloc: jemalloc
      ? { env: { ...clean, LD_PRELOAD: jemalloc }, argv: ['--flush-denormal'] }
      : null,
  };
  const peers = [];
  const missing = [];
  for (const name of asked) {
    if (!(name in all)) throw new Error(`unknown peer '${name}' (plain, tuned, jemalloc)`);
    if (all[name]) peers.push({ name, ...all[name] });
    else missing.push(`${name} (libjemalloc.so.2 not found; Debian: apt-get install libjemalloc2)`);
  }
  return { peers, missing };
}

const fmt = (v, digits = 1) =>
  typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-';

/** Median and best images/s and the largest peak RSS over a row's repeats (failures left out). */
function summarise(results) {
  const ok = results.filter((r) => !r.error);
  if (ok.length === 0) return { error: results.at(-1)?.error ?? 'not run' };
  const ips = ok.map((r) => r.imagesPerSecond).sort((a, b) => a - b);
  const pick = (key) => {
    const v = ok.map((r) => r[key]).filter((x) => typeof x === 'number');
    return v.length ? Math.max(...v) : null;
  };
  // The two middle values coincide for an odd count.
  return {
    median: (ips[Math.floor((ips.length - 1) / 2)] + ips[Math.floor(ips.length / 2)]) / 2,
    best: ips.at(-1),
    n: ok.length,
    failed: results.length - ok.length,
    peakRssMb: pick('peakRssMb'),
    wasmHeapMb: pick('wasmHeapMb'),
    firstNll: ok[0].firstNll,
  };
}

async function main() {
  const { resolveModelConfig } = await import('@hierglow/glow');
  const names = args.configs.split(',').map((s) => s.trim());
  for (const n of names)
    if (!CONFIGS[n]) throw new Error(`unknown config '${n}' (small, medium, paper)`);
  const configOf = (name) => (args.smoke ? smokeConfig(CONFIGS[name]) : CONFIGS[name]);
  const runs = args.smoke ? 1 : Number(args.runs);
  const warmup = args.smoke ? 0 : Number(args.warmup);
  const repeats = args.smoke ? 1 : Number(args.repeats);
  const timeoutMs = Number(args['timeout-minutes']) * 60_000;
  const torch = args['skip-torch'] ? { python: null, skipped: true } : findPython();
  const { peers, missing } = torch.python ? peerVariants() : { peers: [], missing: [] };
  const loadBefore = loadavg();
  const started = Date.now();

  const measurements = [];
  if (!args['only-reversible']) {
    for (const name of names) {
      const { train, score } = configOf(name);
      measurements.push({ name, mode: 'score', batch: score, memory: null });
      measurements.push({ name, mode: 'train', batch: train, memory: 'autodiff' });
    }
  }
  if (!args['no-reversible']) {
    for (const row of REVERSIBLE_ROWS.filter((r) => names.includes(r.config))) {
      const batch = args.smoke ? Math.min(row.batch, 4) : row.batch;
      const autodiff = measurements.find(
        (m) => m.name === row.config && m.mode === 'train' && m.batch === batch,
      );
      if (args['only-reversible'] && batch === configOf(row.config).train && !autodiff) {
        measurements.push({ name: row.config, mode: 'train', batch, memory: 'autodiff' });
      }
      if (
        !measurements.some(
          (m) => m.name === row.config && m.memory === 'reversible' && m.batch === batch,
        )
      )
        measurements.push({ name: row.config, mode: 'train', batch, memory: 'reversible' });
    }
  }

  console.log(
    `Glow throughput: hierglow (${args.backend}) vs PyTorch peers (CPU, ${args.threads} threads): ` +
      `${peers.map((p) => p.name).join(', ') || 'none'}; per process the median of ${runs} steps after ${warmup} warm-up; ` +
      `${repeats} interleaved repeats per row; node ${process.versions.node}`,
  );
  if (torch.python) console.log(`PyTorch ${torch.torchVersion} from ${torch.python}`);
  else if (!torch.skipped)
    console.log(
      `PyTorch peers not run: none of ${torch.tried.join(', ')} imports torch (Debian: apt-get install python3-torch; or --python / ${PYTHON_ENV_VAR})`,
    );
  for (const m of missing) console.log(`peer left out: ${m}`);
  console.log(
    `load average before: ${loadBefore.map((v) => v.toFixed(2)).join(' ')} ` +
      "(the 'load' column is the 1-minute average after the row, including the benchmark's own threads).\n",
  );
  if (args.smoke) console.log('SMOKE MODE: tiny shapes, one run; these timings mean nothing.\n');

  // One starting point per config: weights and images both sides read.
  const work = mkdtempSync(join(tmpdir(), 'hierglow-glow-bench-'));
  const prepared = {};
  const rows = [];
  try {
    for (const name of names) {
      const dir = join(work, name);
      const batch = Math.max(
        ...measurements.filter((m) => m.name === name).map((m) => m.batch),
        INIT_IMAGES,
      );
      const model = resolveModelConfig({ ...configOf(name).model, seed: 1 });
      const result = await runJson(
        process.execPath,
        [
          fileURLToPath(import.meta.url),
          '--prepare',
          JSON.stringify({ model, dir, batch, backend: args.backend }),
        ],
        timeoutMs,
      );
      if (result.error) throw new Error(`preparing ${name} failed: ${result.error}`);
      prepared[name] = { model, dir };
    }

    for (const { name, mode, batch, memory } of measurements) {
      const { model, dir } = prepared[name];
      const job = {
        model,
        checkpoint: join(dir, 'checkpoint'),
        mode,
        batch,
        runs,
        warmup,
        backend: args.backend,
        ...(memory ? { memory } : {}),
      };
      const row = { name, mode, memory, batch, ours: [], peers: {} };
      for (const p of peers) row.peers[p.name] = [];
      for (let r = 0; r < repeats; r++) {
        row.ours.push(
          await runJson(
            process.execPath,
            [...process.execArgv, fileURLToPath(import.meta.url), '--worker', JSON.stringify(job)],
            timeoutMs,
          ),
        );
        for (const p of peers) {
          row.peers[p.name].push(
            await runJson(
              torch.python,
              [
                join(here, 'reference', 'bench_torch.py'),
                ...['--checkpoint', job.checkpoint, '--input', join(dir, 'images.safetensors')],
                ...['--mode', mode, '--batch', String(batch), '--runs', String(runs)],
                ...['--warmup', String(warmup), '--threads', args.threads, ...p.argv],
              ],
              timeoutMs,
              p.env,
            ),
          );
        }
      }
      row.load = loadavg()[0];
      rows.push(row);
      const label = memory === 'reversible' ? 'train (reversible)' : mode;
      const last = (rs) => rs.at(-1);
      console.error(
        `${name} ${label} b${batch}: hierglow ${fmt(last(row.ours).imagesPerSecond)}${last(row.ours).error ? ` (${last(row.ours).error})` : ''}` +
          peers
            .map((p) => {
              const r = last(row.peers[p.name]);
              return `, ${p.name} ${fmt(r.imagesPerSecond)}${r.error ? ` (${r.error})` : ''}`;
            })
            .join('') +
          ` img/s (last repeat; load ${row.load.toFixed(2)})`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  report(rows, peers, configOf);
  if (args.json) {
    writeFileSync(
      args.json,
      `${JSON.stringify({ node: process.versions.node, torch, loadBefore, rows }, null, 1)}\n`,
    );
  }
  console.log(
    `\nload average after: ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')}; wall time ${((Date.now() - started) / 60000).toFixed(1)} min.`,
  );
}

function report(rows, peers, configOf) {
  const describe = (name) => {
    const m = configOf(name).model;
    return `${name} (K=${m.stepsPerLevel}, hidden ${m.hidden}, ${m.channels}x${m.height}x${m.width})`;
  };
  const label = (r) => (r.memory === 'reversible' ? 'train (reversible)' : r.mode);
  const cell = (s) =>
    s.error
      ? `failed: ${s.error}`
      : `${fmt(s.median)} (${fmt(s.best)})${s.failed ? ` [${s.failed} failed]` : ''}`;
  for (const r of rows) {
    r.summary = summarise(r.ours);
    r.peerSummary = Object.fromEntries(peers.map((p) => [p.name, summarise(r.peers[p.name])]));
    const ok = Object.entries(r.peerSummary).filter(([, s]) => !s.error);
    r.fastest = ok.sort(([, a], [, b]) => b.median - a.median)[0] ?? null;
    r.fastestBest = ok.length ? Math.max(...ok.map(([, s]) => s.best)) : null;
  }
  console.log('img/s: median (best) of the repeats; ratio = hierglow / the fastest PyTorch peer\n');
  console.log(
    `| config | mode | batch | hierglow ${args.backend} | ${peers.map((p) => `PyTorch ${p.name}`).join(' | ')}${peers.length ? ' | ' : ''}` +
      'fastest peer | ratio (medians) | ratio (bests) | hierglow peak RSS MB | wasm heap MB | fastest peer peak RSS MB | load |',
  );
  console.log(
    `|---|---|---:|---:|${peers.map(() => '---:|').join('')}---|---:|---:|---:|---:|---:|---:|`,
  );
  for (const r of rows) {
    const s = r.summary;
    const f = r.fastest?.[1];
    console.log(
      `| ${describe(r.name)} | ${label(r)} | ${r.batch} | ${cell(s)} | ` +
        peers.map((p) => `${cell(r.peerSummary[p.name])} | `).join('') +
        `${r.fastest?.[0] ?? '-'} | ${fmt(s.median / f?.median, 2)} | ${fmt(s.best / r.fastestBest, 2)} | ` +
        `${fmt(s.peakRssMb, 0)} | ${fmt(s.wasmHeapMb, 0)} | ${fmt(f?.peakRssMb, 0)} | ${fmt(r.load, 2)} |`,
    );
  }

  const pairs = rows
    .filter((r) => r.memory === 'reversible')
    .map((rev) => [
      rows.find(
        (a) =>
          a.name === rev.name &&
          a.mode === 'train' &&
          a.memory !== 'reversible' &&
          a.batch === rev.batch,
      ),
      rev,
    ])
    .filter(([a]) => a);
  if (pairs.length) {
    console.log('\nReversible vs autodiff, hierglow, where both ran (img/s medians):\n');
    console.log(
      '| config | batch | autodiff img/s | reversible img/s | reversible / autodiff | peak RSS MB autodiff / reversible | wasm heap MB autodiff / reversible |',
    );
    console.log('|---|---:|---:|---:|---:|---|---|');
    for (const [a, rev] of pairs) {
      console.log(
        `| ${a.name} | ${a.batch} | ${fmt(a.summary.median)} | ${fmt(rev.summary.median)} | ${fmt(rev.summary.median / a.summary.median, 2)} | ` +
          `${fmt(a.summary.peakRssMb, 0)} / ${fmt(rev.summary.peakRssMb, 0)} | ${fmt(a.summary.wasmHeapMb, 0)} / ${fmt(rev.summary.wasmHeapMb, 0)} |`,
      );
    }
  }

  const first = rows.flatMap((r) => r.ours).find((o) => !o.error);
  console.log('');
  if (first) {
    console.log(
      `hierglow: backend ${first.backend}, SIMD ${first.simd}, kernels ${first.simdKernelsVariant ?? '-'}, ` +
        `threads ${first.threads ?? '-'}; PyTorch ${args.threads} threads.`,
    );
  }
  console.log(
    "paper config: autodiff training at batch 4 and scoring at 64, because hierglow's wasm heap is capped at " +
      "4 GiB and autodiff keeps every activation; 'train (reversible)' rows keep no per-step activations. " +
      'PyTorch peers train with autodiff at every batch.',
  );
  console.log(
    'First-step NLLs, nats per image (same weights and images on both sides: they should agree to ~1e-5 relative): ' +
      rows
        .map((r) => {
          const peer = r.fastest?.[1] ?? Object.values(r.peerSummary)[0];
          return `${r.name}/${label(r)}/b${r.batch} ${fmt(r.summary.firstNll, 3)} vs ${fmt(peer?.firstNll, 3)}`;
        })
        .join(', '),
  );
}

if (args.prepare) {
  await prepare(JSON.parse(args.prepare));
  process.exit(0);
} else if (args.worker) {
  await worker(JSON.parse(args.worker));
  // A backend's worker pool must not keep a finished measurement alive.
  process.exit(0);
} else {
  await main();
}
