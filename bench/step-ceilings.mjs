#!/usr/bin/env node
/**
 * Where a Glow training (or scoring) step's time goes, and how close each kernel runs to what
 * the core can do: the evidence behind "how much faster can this step get on these cores".
 *
 *   npm run build -w @hierglow/flow-layers -w @hierglow/backend-wasm -w @hierglow/glow
 *   node bench/step-ceilings.mjs --config medium            # train, batch 64, 2 wasm threads
 *   node bench/step-ceilings.mjs --config small --mode score --threads 1
 *   HIERGLOW_RELAXED_SIMD=0 node --experimental-wasm-relaxed-simd bench/step-ceilings.mjs --config medium
 *                                     # the plain SIMD128 kernels (and still the fused peak)
 *
 * 1. The ceilings of one core, measured here (core-peaks.mjs): the wasm SIMD128 multiply + add
 *    peak, the relaxed-SIMD fused multiply-add peak where the runtime has it, and the copy
 *    bandwidth. A step on T threads has T times the FLOP peak at most; each kernel build is held
 *    against its own peak (SIMD128 kernels cannot use fused multiply-adds).
 * 2. One step under `tf.profile`: every kernel call grouped by kernel and input shapes, with
 *    its share of the kernels' time; wall time minus kernel time is what runs outside kernels
 *    (JavaScript: tape, dispatch, the optimizer's bookkeeping).
 * 3. Each of the groups that make up `--cover` of the kernel time is replayed on its own: the
 *    inputs and attributes of its first call in the step, captured at the kernel registry, run
 *    `--replays` times after two warm-up calls. The best replay is the kernel's own ceiling at
 *    that shape (warm caches, nothing between calls); the in-step time against it shows what
 *    the step's surroundings cost (cold caches, allocation).
 * Products and convolutions are counted in FLOP (2 per multiply-add), the rest in bytes moved
 * (inputs read + outputs written, 4 bytes a value), so each group is set against the peak
 * that bounds it.
 *
 * Take the figures on a quiet machine: replays and peaks are short and every other process
 * on the cores shows up in them.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { CONFIGS } from './configs.mjs';
import { copyBandwidthGbs, wasmPeakGflops } from './core-peaks.mjs';
import { median, STEP_OPTIONS, stepModel, stepPreset } from './step-data.mjs';

const { values: args } = parseArgs({
  options: {
    ...STEP_OPTIONS,
    threads: { type: 'string', default: '2' },
    replays: { type: 'string', default: '7' },
    cover: { type: 'string', default: '0.95' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  console.log(
    'node bench/step-ceilings.mjs [--config small|medium|paper] [--mode train|score] ' +
      '[--memory autodiff|reversible] [--batch N] [--threads N] [--runs N] [--replays N] ' +
      '[--cover 0.95] [--json]',
  );
  process.exit(0);
}

const size = (shape) => (shape ?? []).reduce((a, d) => a * d, 1);

/**
 * FLOP of one call of a product or convolution kernel, from its input and output shapes; null
 * for every other kernel (those are counted in bytes).
 */
function kernelFlops(name, inputShapes, outputShapes) {
  const out = outputShapes[0];
  switch (name) {
    case 'HierglowConv2DSame':
    case 'Conv2D':
    case 'FusedConv2D': {
      // Same-padded, stride 1: every output pixel of the image takes kh*kw*cx*cy multiply-adds,
      // whichever way round the filter is used (forward, or the input gradient through it).
      const [x, filter] = inputShapes;
      const [kh, kw] = filter;
      const pixelsPerImage = x[1] * x[2];
      return 2 * x[0] * pixelsPerImage * kh * kw * x[3] * out[3];
    }
    case 'HierglowTransposeAProduct': {
      const [a, b] = inputShapes; // aᵀb over the rows both share
      return 2 * a[0] * a[1] * b[1];
    }
    case 'HierglowNarrowProduct': {
      const [x, w] = inputShapes;
      return 2 * size(x) * w[1];
    }
    case 'BatchMatMul':
    case 'MatMul':
    case '_FusedMatMul': {
      // |a| |b| = batch² m k² n and |out| = batch m n, whatever the transposes.
      const [a, b] = inputShapes;
      const batch = a.length > 2 ? size(a.slice(0, -2)) : 1;
      const k = Math.sqrt((size(a) * size(b)) / (size(out) * batch));
      return 2 * size(out) * k;
    }
    default:
      return null;
  }
}

/**
 * Records, per kernel name + input shapes, the inputs (copied) and attributes of its first call,
 * by wrapping the backend's registered kernel functions. Returns `stop()`, which restores them.
 */
function captureKernelCalls(tf, backendName, captured) {
  const restore = [];
  for (const config of tf.getKernelsForBackend(backendName)) {
    const original = config.kernelFunc;
    config.kernelFunc = (call) => {
      const names = Object.keys(call.inputs);
      const key = groupKey(
        config.kernelName,
        names.map((n) => call.inputs[n]?.shape ?? null),
      );
      if (!captured.has(key)) {
        const inputs = {};
        for (const n of names) {
          const t = call.inputs[n];
          if (!t) continue;
          inputs[n] = {
            shape: [...t.shape],
            dtype: t.dtype,
            values: call.backend.readSync(t.dataId).slice(),
          };
        }
        captured.set(key, { name: config.kernelName, inputs, attrs: { ...call.attrs } });
      }
      return original(call);
    };
    restore.push(() => {
      config.kernelFunc = original;
    });
  }
  return () => {
    for (const r of restore) r();
  };
}

function groupKey(name, shapes) {
  return `${name} ${shapes.map((s) => (s ? `[${s}]` : '-')).join(' ')}`;
}

/** Per-call ms of the captured call run alone: best and median of `replays` after 2 warm-ups. */
function replay(tf, call, replays) {
  const inputs = {};
  for (const [n, v] of Object.entries(call.inputs)) {
    inputs[n] = tf.tensor(v.values, v.shape, v.dtype);
  }
  const once = () => {
    const t0 = performance.now();
    const out = tf.engine().runKernel(call.name, inputs, call.attrs);
    const ms = performance.now() - t0; // hierglow's wasm kernels are synchronous
    for (const t of Array.isArray(out) ? out : [out]) t.dispose();
    return ms;
  };
  once();
  once();
  const times = Array.from({ length: replays }, once);
  for (const t of Object.values(inputs)) t.dispose();
  return { best: Math.min(...times), median: median(times) };
}

async function main() {
  const preset = stepPreset(CONFIGS, args.config, args.mode);
  const threads = Number(args.threads);

  const loadStart = loadavg()[0];
  // Copy bandwidth at a cache-resident, an L2-sized and a memory-bound size, for the header;
  // each data-moving kernel is held against a copy of as many bytes as it moves.
  const copySizes = [256 * 1024, 2 * 1024 * 1024, 64 * 1024 * 1024].map((bytes) => ({
    bytes,
    gbs: copyBandwidthGbs({ bytes }),
  }));

  const { selectBackend, backendInfo } = await import('@hierglow/backend-wasm');
  const tf = await import('@tensorflow/tfjs-core');
  const { createModel, Trainer } = await import('@hierglow/glow');
  await selectBackend('wasm', { threads });
  const info = backendInfo();
  // After selectBackend: on Node 20 it turns on V8's relaxed-SIMD flag (unless
  // HIERGLOW_RELAXED_SIMD=0), and only then can the fused peak loop compile.
  const peakSimd = await wasmPeakGflops();
  const peakFma = await wasmPeakGflops({ fused: true });
  const batch = Number(args.batch ?? preset[args.mode]);
  const { model, x, shape } = stepModel(tf, createModel, preset, batch);
  let step;
  if (args.mode === 'train') {
    const trainer = new Trainer(model, { epochs: 1, memory: args.memory });
    step = () => trainer.trainStep({ x, shape });
  } else {
    const xt = tf.tensor4d(x, shape);
    step = () => tf.tidy(() => model.logProb(xt).logP.dataSync());
  }

  step(); // warm-up (compiles, allocates)
  const wallTimes = [];
  for (let i = 0; i < Number(args.runs); i++) {
    const t0 = performance.now();
    step();
    wallTimes.push(performance.now() - t0);
  }
  const wallMs = median(wallTimes);
  const loadTimed = loadavg()[0];

  const captured = new Map();
  const stopCapture = captureKernelCalls(tf, tf.getBackend(), captured);
  step();
  stopCapture();

  // Entries that are not registered kernels are customGrad/op scopes around kernels listed too.
  const profile = await tf.profile(() => step());
  const groups = new Map();
  let kernelMs = 0;
  let calls = 0;
  for (const k of profile.kernels) {
    if (tf.getKernel(k.name, tf.getBackend()) === undefined) continue;
    const ms = await k.kernelTimeMs;
    const key = groupKey(k.name, k.inputShapes);
    let g = groups.get(key);
    if (!g) {
      const flops = kernelFlops(k.name, k.inputShapes, k.outputShapes);
      const bytes =
        4 *
        (k.inputShapes.reduce((n, s) => n + (s ? size(s) : 0), 0) +
          k.outputShapes.reduce((n, s) => n + (s ? size(s) : 0), 0));
      const outValues = k.outputShapes.reduce((n, s) => n + (s ? size(s) : 0), 0);
      g = { key, name: k.name, count: 0, ms: 0, flops, bytes, outValues };
      groups.set(key, g);
    }
    g.count += 1;
    g.ms += ms;
    kernelMs += ms;
    calls += 1;
  }
  const ranked = [...groups.values()].sort((a, b) => b.ms - a.ms);
  const cover = Number(args.cover);
  let covered = 0;
  const replayed = [];
  for (const g of ranked) {
    if (covered >= cover * kernelMs) break;
    covered += g.ms;
    const call = captured.get(g.key);
    if (!call) continue; // kernels called with other shapes while capturing (none expected)
    g.alone = replay(tf, call, Number(args.replays));
    replayed.push(g);
  }

  // Totals of the FLOP-counted kernels (the products and convolutions).
  const compute = ranked.filter((g) => g.flops !== null);
  const sum = (gs, f) => gs.reduce((s, g) => s + f(g), 0);
  const computeMs = sum(compute, (g) => g.ms);
  const computeFlops = sum(compute, (g) => g.flops * g.count);
  // The kernels' own build bounds them: fused multiply-adds only in the relaxed-SIMD build.
  const peakCore =
    info.simdKernelsVariant === 'relaxed-simd' && peakFma ? peakFma.gflops : peakSimd.gflops;
  const result = {
    config: args.config,
    mode: args.mode,
    memory: args.mode === 'train' ? args.memory : undefined,
    batch,
    threads: info.threads,
    simdKernels: info.simdKernelsVariant,
    node: process.versions.node,
    load: { start: loadStart, timed: loadTimed, end: loadavg()[0] },
    peaks: {
      simd128GflopsPerCore: peakSimd.gflops,
      relaxedFmaGflopsPerCore: peakFma?.gflops ?? null,
      copy: copySizes,
    },
    wallMs,
    imagesPerSecond: (1000 * batch) / wallMs,
    kernelCalls: calls,
    kernelMs,
    computeMs,
    computeGflop: computeFlops / 1e9,
    groups: ranked.map(({ key, name, count, ms, flops, bytes, alone }) => ({
      key,
      name,
      count,
      ms,
      flops,
      bytes,
      alone,
    })),
  };
  // If every FLOP-counted kernel ran at the threads' combined peak and nothing else cost time.
  result.computeBoundMs = computeFlops / (peakCore * threads * 1e6);
  if (args.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const m = preset.model;
  const f1 = (v) => v.toFixed(1);
  console.log(
    `${args.config} (K=${m.stepsPerLevel}, hidden ${m.hidden}, ${m.channels}x${m.height}x${m.width}) ${args.mode}` +
      `${args.mode === 'train' ? ` (${args.memory})` : ''}, batch ${batch}, wasm ${info.threads} ` +
      `thread(s), ${info.simdKernelsVariant ?? 'no'} kernels, Node ${process.versions.node}; load ` +
      `average ${loadStart.toFixed(2)} before, ${loadTimed.toFixed(2)} timed, ${loadavg()[0].toFixed(2)} after`,
  );
  console.log(
    `\nCeilings of one core: wasm SIMD128 multiply+add ${f1(peakSimd.gflops)} GFLOP/s ` +
      `(${peakSimd.chains} chains); relaxed fused multiply-add ` +
      `${peakFma ? `${f1(peakFma.gflops)} GFLOP/s (${peakFma.chains} chains)` : 'not available in this runtime'}; ` +
      `copy (read + write) ${copySizes
        .map(
          (c) =>
            `${f1(c.gbs)} GB/s at ${c.bytes >= 1 << 20 ? `${c.bytes >> 20} MiB` : `${c.bytes >> 10} KiB`}`,
        )
        .join(', ')}`,
  );
  const outside = wallMs - kernelMs;
  console.log(
    `\nStep: ${f1(wallMs)} ms wall (median of ${args.runs}; ${f1(result.imagesPerSecond)} img/s); ` +
      `${calls} kernel calls, ${f1(kernelMs)} ms profiled kernel time ` +
      `(products and convolutions ${f1(computeMs)} ms for ${result.computeGflop.toFixed(2)} GFLOP = ` +
      `${f1(result.computeGflop / (computeMs / 1000))} GFLOP/s; other kernels ` +
      `${f1(kernelMs - computeMs)} ms); outside kernels ~${f1(Math.max(0, outside))} ms.`,
  );
  console.log(
    `All products and convolutions at ${threads} x the peak of the ${info.simdKernelsVariant} build ` +
      `(${f1(peakCore)} GFLOP/s a core) would take ` +
      `${f1(result.computeBoundMs)} ms: a compute-bound ceiling of ${f1((1000 * batch) / result.computeBoundMs)} img/s.`,
  );
  // Where the time goes, by kind of work; "alone" sums each replayed group's best call (groups
  // not replayed count at their in-step time).
  const kinds = [
    ['products and convolutions (FLOP-bound)', (g) => g.flops !== null],
    ['data-moving kernels writing > 1024 values', (g) => g.flops === null && g.outValues > 1024],
    [
      'small kernels writing <= 1024 values (dispatch-bound)',
      (g) => g.flops === null && g.outValues <= 1024,
    ],
  ];
  console.log(
    '\n| where the step goes | calls | in step ms | % of wall | alone ms | rate in step | rate alone |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [label, test] of kinds) {
    const gs = ranked.filter(test);
    const ms = sum(gs, (g) => g.ms);
    const aloneMs = sum(gs, (g) => (g.alone ? g.alone.best * g.count : g.ms));
    const n = sum(gs, (g) => g.count);
    let rates = ['-', '-'];
    if (gs[0]?.flops !== null && gs.length) {
      const gflop = sum(gs, (g) => g.flops * g.count) / 1e9;
      rates = [`${f1(gflop / (ms / 1000))} GFLOP/s`, `${f1(gflop / (aloneMs / 1000))} GFLOP/s`];
    } else if (gs.length && label.startsWith('data')) {
      const gb = sum(gs, (g) => g.bytes * g.count) / 1e9;
      rates = [`${f1(gb / (ms / 1000))} GB/s`, `${f1(gb / (aloneMs / 1000))} GB/s`];
    } else if (gs.length) {
      rates = [
        `${((1000 * ms) / n).toFixed(1)} µs/call`,
        `${((1000 * aloneMs) / n).toFixed(1)} µs/call`,
      ];
    }
    console.log(
      `| ${label} | ${n} | ${f1(ms)} | ${((100 * ms) / wallMs).toFixed(1)} | ${f1(aloneMs)} | ${rates[0]} | ${rates[1]} |`,
    );
  }
  console.log(
    `| outside kernels (wall - profiled kernel time) | - | ${f1(Math.max(0, outside))} | ` +
      `${((100 * Math.max(0, outside)) / wallMs).toFixed(1)} | - | - | - |`,
  );
  console.log(
    '\n| kernel and input shapes | calls | in step ms | % of kernel time | per call in step ms | per call alone ms (best / median) | in step | alone (best) | of peak (alone) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const g of replayed) {
    const per = g.ms / g.count;
    let inStep;
    let alone;
    let ofPeak;
    if (g.flops !== null) {
      inStep = `${f1(g.flops / (per * 1e6))} GFLOP/s`;
      alone = `${f1(g.flops / (g.alone.best * 1e6))} GFLOP/s`;
      ofPeak = `${((100 * g.flops) / (g.alone.best * 1e6 * peakCore * threads)).toFixed(0)} %`;
    } else {
      inStep = `${f1(g.bytes / (per * 1e6))} GB/s`;
      alone = `${f1(g.bytes / (g.alone.best * 1e6))} GB/s`;
      // Half the bytes are read and half written in the copy; 4-byte multiples for the arrays.
      const copyGbs = copyBandwidthGbs({ bytes: Math.max(4096, 4 * Math.ceil(g.bytes / 8)) });
      ofPeak = `${((100 * g.bytes) / (g.alone.best * 1e6 * copyGbs)).toFixed(0)} % of a copy`;
    }
    console.log(
      `| ${g.key.length > 80 ? `${g.key.slice(0, 77)}...` : g.key} | ${g.count} | ${f1(g.ms)} | ` +
        `${((100 * g.ms) / kernelMs).toFixed(1)} | ${per.toFixed(3)} | ` +
        `${g.alone.best.toFixed(3)} / ${g.alone.median.toFixed(3)} | ${inStep} | ${alone} | ${ofPeak} |`,
    );
  }
  const rest = ranked.length - replayed.length;
  console.log(
    `\n(${rest} more groups, ${f1(kernelMs - sum(replayed, (g) => g.ms))} ms, not replayed; ` +
      `'of peak': products and convolutions against ${threads} thread(s) x the one-core peak of ` +
      `the kernels' build; data-moving kernels against one thread copying as many bytes.)`,
  );
}

await main();
process.exit(0);
