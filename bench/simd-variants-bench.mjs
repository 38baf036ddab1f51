#!/usr/bin/env node
/**
 * Single-kernel speed of hierglow's two kernel builds: plain SIMD128 against relaxed SIMD (fused
 * multiply-adds), on the wasm backend, one thread (no helper thread, no XNNPACK pool), so the
 * figure is the kernel's own.
 *
 *   npm run build -w @hierglow/flow-layers -w @hierglow/backend-wasm
 *   node bench/simd-variants-bench.mjs                 # 5 rounds, each kernel 20 calls a round
 *   node bench/simd-variants-bench.mjs --rounds 1 --calls 3   # smoke
 *
 * Each round runs one child process per build (relaxed first in odd rounds, plain first in
 * even ones), both under --experimental-wasm-relaxed-simd (Node 20 needs it; the plain build is
 * forced with HIERGLOW_RELAXED_SIMD=0), so both see the same V8 flags. A child times each kernel
 * `--calls` times after 3 warm-up calls and reports the median; the table gives, per kernel and
 * build, the median and the best of the rounds' medians.
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    calls: { type: 'string', default: '20' },
    worker: { type: 'boolean', default: false },
  },
});

/** [name, multiply-adds, run(tf, kernels) -> () => tensor] */
const KERNELS = [
  {
    name: 'conv 3x3 [64,16,16,64] -> 64 (coupling net, medium-like)',
    macs: 64 * 16 * 16 * 9 * 64 * 64,
    make: (tf, k) => {
      const x = tf.randomNormal([64, 16, 16, 64], 0, 1, 'float32', 1);
      const w = tf.randomNormal([3, 3, 64, 64], 0, 1, 'float32', 2);
      const b = tf.randomNormal([64], 0, 1, 'float32', 3);
      return () => k.conv2dSameKernel(x, w, b, { relu: true });
    },
  },
  {
    name: 'conv 3x3 [2,16,16,512] -> 512 (paper hidden width)',
    macs: 2 * 16 * 16 * 9 * 512 * 512,
    make: (tf, k) => {
      const x = tf.randomNormal([2, 16, 16, 512], 0, 1, 'float32', 4);
      const w = tf.randomNormal([3, 3, 512, 512], 0, 1, 'float32', 5);
      return () => k.conv2dSameKernel(x, w, null, { relu: true });
    },
  },
  {
    name: 'conv 3x3 [64,16,16,4] -> 64 (padded few-channel input)',
    macs: 64 * 16 * 16 * 9 * 4 * 64,
    make: (tf, k) => {
      const x = tf.randomNormal([64, 16, 16, 4], 0, 1, 'float32', 6);
      const w = tf.randomNormal([3, 3, 4, 64], 0, 1, 'float32', 7);
      return () => k.conv2dSameKernel(x, w, null, { relu: true });
    },
  },
  {
    name: 'atb [16384,64]^T [16384,64] (filter gradient)',
    macs: 16384 * 64 * 64,
    make: (tf, k) => {
      const a = tf.randomNormal([16384, 64], 0, 1, 'float32', 8);
      const b = tf.randomNormal([16384, 64], 0, 1, 'float32', 9);
      return () => k.transposeAProductKernel(a, b, true);
    },
  },
  {
    name: 'narrow product [65536,16] [16,16] (channel mix)',
    macs: 65536 * 16 * 16,
    make: (tf, k) => {
      const x = tf.randomNormal([65536, 16], 0, 1, 'float32', 10);
      const w = tf.randomNormal([16, 16], 0, 1, 'float32', 11);
      return () => k.narrowProductKernel(x, w, null);
    },
  },
];

async function worker() {
  const tf = await import('@tensorflow/tfjs-core');
  const { backendInfo, selectBackend } = await import('@hierglow/backend-wasm');
  const dist = new URL('../packages/backend-wasm/dist/kernels/simd-kernels.js', import.meta.url);
  const kernels = await import(dist.href);
  await selectBackend('wasm', { threads: 1 });
  const calls = Number(args.calls);
  const results = {};
  for (const { name, macs, make } of KERNELS) {
    const run = make(tf, kernels);
    const once = () => {
      const t0 = performance.now();
      const y = run();
      y.dataSync(); // the kernels are synchronous; this only makes the wait explicit
      const ms = performance.now() - t0;
      y.dispose();
      return ms;
    };
    for (let i = 0; i < 3; i++) once();
    const times = Array.from({ length: calls }, once).sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    results[name] = { ms: median, gflops: (2 * macs) / (median * 1e6) };
  }
  console.log(JSON.stringify({ variant: backendInfo().simdKernelsVariant, results }));
}

function child(variant) {
  const env = { ...process.env, HIERGLOW_WASM_THREADS: '1' };
  if (variant === 'simd128') env.HIERGLOW_RELAXED_SIMD = '0';
  else delete env.HIERGLOW_RELAXED_SIMD;
  const run = spawnSync(
    process.execPath,
    [
      '--experimental-wasm-relaxed-simd',
      fileURLToPath(import.meta.url),
      '--worker',
      '--calls',
      args.calls,
    ],
    { env, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  if (run.status !== 0) throw new Error(`${variant} worker failed:\n${run.stderr}`);
  const out = JSON.parse(run.stdout.trim().split('\n').pop());
  if (out.variant !== variant) {
    throw new Error(`asked for ${variant}, the worker ran ${out.variant}: see backendInfo()`);
  }
  return out.results;
}

async function main() {
  const rounds = Number(args.rounds);
  const loadBefore = loadavg();
  const samples = { simd128: [], 'relaxed-simd': [] };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? ['relaxed-simd', 'simd128'] : ['simd128', 'relaxed-simd'];
    for (const v of order) samples[v].push(child(v));
    console.error(`round ${r + 1}/${rounds} done (load ${loadavg()[0].toFixed(2)})`);
  }
  const stat = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { median: s[Math.floor(s.length / 2)], best: s[0] };
  };
  console.log(
    `hierglow kernels, plain SIMD128 vs relaxed SIMD, wasm, 1 thread; node ${process.versions.node}; ` +
      `${rounds} rounds x ${args.calls} calls (median per round; table: median and best of the rounds)`,
  );
  console.log(
    `load average before: ${loadBefore.map((v) => v.toFixed(2)).join(' ')}; after: ${loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')} (the benchmark itself adds about 1)\n`,
  );
  console.log(
    '| kernel | simd128 ms (median / best) | relaxed ms (median / best) | simd128 GFLOP/s | relaxed GFLOP/s | speed-up (medians) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const { name } of KERNELS) {
    const p = stat(samples.simd128.map((s) => s[name].ms));
    const q = stat(samples['relaxed-simd'].map((s) => s[name].ms));
    const g = (ms) => ((2 * KERNELS.find((k) => k.name === name).macs) / (ms * 1e6)).toFixed(1);
    console.log(
      `| ${name} | ${p.median.toFixed(2)} / ${p.best.toFixed(2)} | ${q.median.toFixed(2)} / ${q.best.toFixed(2)} | ` +
        `${g(p.median)} | ${g(q.median)} | ${(p.median / q.median).toFixed(2)}x |`,
    );
  }
}

if (args.worker) await worker();
else await main();
process.exit(0);
