#!/usr/bin/env node
/**
 * Where a Glow training (or scoring) step spends its time, on the built packages:
 *
 *   npm run build -w @hierglow/flow-layers -w @hierglow/backend-wasm -w @hierglow/glow
 *   node bench/profile-train-step.mjs                    # small config, train, wasm
 *   node bench/profile-train-step.mjs --config medium --mode score --top 30
 *
 * Two passes over the same `Trainer.trainStep` (or `logProb` for --mode score):
 * 1. wall time, unprofiled, split into phases by wrapping the model's `logProb` (its return
 *    ends the forward pass) and the optimizer's `applyGradients`:
 *    forward | backward (+ gradient reads and the finite check) | optimizer | rest;
 * 2. one step under `tf.profile`: every kernel by name, with count and summed kernel time, per
 *    phase, and the top kernels overall (with their most expensive input shapes).
 * Profiled kernel times include tfjs' per-kernel bookkeeping, so their sum exceeds the
 * unprofiled wall time; the COUNTS are exact and the ranking is what to read.
 *
 * --memory reversible profiles the reversible training step (ADR 0007): its forward phase ends
 * when `reversibleForward` returns, and the backward phase includes the recomputation.
 *
 * --fast off runs the straightforward paths (backend-wasm's setFastPaths(false)); --ab N instead
 * times N rounds of one step with the fast paths and one without, alternating which goes first,
 * in this one process (the fair comparison on a shared machine), and prints both medians.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { CONFIGS } from './configs.mjs';
import { median, STEP_OPTIONS, stepModel, stepPreset } from './step-data.mjs';

const { values: args } = parseArgs({
  options: {
    ...STEP_OPTIONS,
    backend: { type: 'string', default: 'wasm' },
    warmup: { type: 'string', default: '1' },
    top: { type: 'string', default: '25' },
    fast: { type: 'string', default: 'on' },
    ab: { type: 'string', default: '0' },
  },
});

async function main() {
  const preset = stepPreset(CONFIGS, args.config, args.mode);
  const { selectBackend, backendInfo, setFastPaths } = await import('@hierglow/backend-wasm');
  setFastPaths(args.fast !== 'off');
  const tf = await import('@tensorflow/tfjs-core');
  const { createModel, Trainer } = await import('@hierglow/glow');
  await selectBackend(args.backend);
  const batch = Number(args.batch ?? preset[args.mode]);
  const { model, x, shape } = stepModel(tf, createModel, preset, batch);

  // Phase marks: wall-clock times and, under tf.profile, kernel-list positions.
  const marks = {};
  const profileLength = () => tf.engine().state.activeProfile?.kernels?.length ?? 0;
  const mark = (name) => {
    marks[name] = { t: performance.now(), k: profileLength() };
  };
  const logProb = model.logProb.bind(model);
  model.logProb = (input) => {
    const out = logProb(input);
    mark('forwardEnd');
    return out;
  };
  // With memory 'reversible' the trainer's forward pass is this call instead of logProb.
  const reversibleForward = model.reversibleForward?.bind(model);
  if (reversibleForward) {
    model.reversibleForward = (input) => {
      const out = reversibleForward(input);
      mark('forwardEnd');
      return out;
    };
  }
  let step;
  let phases;
  if (args.mode === 'train') {
    const trainer = new Trainer(model, { epochs: 1, memory: args.memory });
    const apply = trainer.optimizer.applyGradients.bind(trainer.optimizer);
    trainer.optimizer.applyGradients = (vars, grads) => {
      mark('optimizerStart');
      apply(vars, grads);
      mark('optimizerEnd');
    };
    step = () => {
      mark('start');
      trainer.trainStep({ x, shape });
      mark('end');
    };
    phases = [
      ['forward', 'start', 'forwardEnd'],
      ['backward+checks', 'forwardEnd', 'optimizerStart'],
      ['optimizer', 'optimizerStart', 'optimizerEnd'],
      ['rest', 'optimizerEnd', 'end'],
    ];
  } else {
    const xt = tf.tensor4d(x, shape);
    step = () => {
      mark('start');
      tf.tidy(() => model.logProb(xt).logP.dataSync());
      mark('end');
    };
    phases = [
      ['forward', 'start', 'forwardEnd'],
      ['read', 'forwardEnd', 'end'],
    ];
  }

  const warmup = Number(args.warmup);
  const runs = Number(args.runs);
  const rounds = Number(args.ab);
  if (rounds > 0) {
    const times = { on: [], off: [] };
    for (const on of [true, false]) {
      setFastPaths(on);
      for (let i = 0; i < warmup; i++) step();
    }
    const loadBefore = loadavg()[0];
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? [true, false] : [false, true];
      for (const on of order) {
        setFastPaths(on);
        step();
        times[on ? 'on' : 'off'].push(marks.end.t - marks.start.t);
      }
    }
    const [on, off] = [median(times.on), median(times.off)];
    console.log(
      `${args.config} ${args.mode} batch ${batch} on ${backendInfo().backend} (threads ${backendInfo().threads ?? '-'}), ` +
        `${rounds} interleaved rounds, load average ${loadBefore.toFixed(2)} -> ${loadavg()[0].toFixed(2)}:\n` +
        `  fast paths on:  median ${on.toFixed(1)} ms (${((batch * 1000) / on).toFixed(1)} img/s)\n` +
        `  fast paths off: median ${off.toFixed(1)} ms (${((batch * 1000) / off).toFixed(1)} img/s)\n` +
        `  speed-up ${(off / on).toFixed(2)}x`,
    );
    return;
  }
  for (let i = 0; i < warmup; i++) step();
  const wall = Object.fromEntries(phases.map(([p]) => [p, []]));
  wall.total = [];
  for (let i = 0; i < runs; i++) {
    step();
    for (const [p, a, b] of phases) wall[p].push(marks[b].t - marks[a].t);
    wall.total.push(marks.end.t - marks.start.t);
  }
  const loadTimed = loadavg()[0];

  // One profiled step. Entries whose name is not a registered kernel are customGrad/op scopes
  // whose inner kernels are listed too: count them apart so no time is counted twice.
  const backend = tf.getBackend();
  const profile = await tf.profile(() => step());
  const kernels = await Promise.all(
    profile.kernels.map(async (k, i) => ({
      name: k.name,
      registered: tf.getKernel(k.name, backend) !== undefined,
      ms: await k.kernelTimeMs,
      shapes: k.inputShapes,
      outSize: (k.outputShapes ?? []).reduce(
        (n, shape) => n + (shape ?? []).reduce((a, d) => a * d, 1),
        0,
      ),
      index: i,
    })),
  );
  const phaseOf = (i) => {
    for (const [p, a, b] of phases) if (i >= marks[a].k && i < marks[b].k) return p;
    return 'rest';
  };
  const byPhase = {};
  const byName = new Map();
  const byShape = new Map();
  let scopes = 0;
  for (const k of kernels) {
    if (!k.registered) {
      scopes += 1;
      continue;
    }
    const p = phaseOf(k.index);
    byPhase[p] ??= { count: 0, ms: 0 };
    byPhase[p].count += 1;
    byPhase[p].ms += k.ms;
    let e = byName.get(k.name);
    if (!e) {
      e = { name: k.name, count: 0, ms: 0, phases: {}, worst: null };
      byName.set(k.name, e);
    }
    e.count += 1;
    e.ms += k.ms;
    e.phases[p] = (e.phases[p] ?? 0) + 1;
    if (!e.worst || k.ms > e.worst.ms) e.worst = { ms: k.ms, shapes: k.shapes };
    const key = `${k.name} ${k.shapes.map((s) => (s ? `[${s}]` : '-')).join(' ')}`;
    const s = byShape.get(key) ?? { key, count: 0, ms: 0 };
    s.count += 1;
    s.ms += k.ms;
    byShape.set(key, s);
  }
  // Per-call overhead vs throughput: kernels by how many values they write.
  const SIZE_CLASSES = [1024, 16384, 262144, Number.POSITIVE_INFINITY];
  const bySize = SIZE_CLASSES.map((limit) => ({ limit, count: 0, ms: 0 }));
  for (const k of kernels) {
    if (!k.registered) continue;
    const c = bySize.find((b) => k.outSize <= b.limit);
    c.count += 1;
    c.ms += k.ms;
  }
  const ranked = [...byName.values()].sort((a, b) => b.ms - a.ms);
  const kernelTotal = ranked.reduce((s, e) => s + e.ms, 0);
  const info = backendInfo();

  const result = {
    config: args.config,
    mode: args.mode,
    batch,
    backend: info.backend,
    threads: info.threads,
    wallMs: Object.fromEntries(Object.entries(wall).map(([k, v]) => [k, median(v)])),
    imagesPerSecond: (batch * 1000) / median(wall.total),
    kernelsPerStep: kernels.length - scopes,
    scopes,
    byPhase,
    kernelMs: kernelTotal,
    bySize,
    top: ranked.slice(0, Number(args.top)),
    topShapes: [...byShape.values()].sort((a, b) => b.ms - a.ms).slice(0, Number(args.top)),
    load: { timed: loadTimed, end: loadavg()[0] },
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  };
  if (args.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const m = preset.model;
  console.log(
    `${args.config} (K=${m.stepsPerLevel}, hidden ${m.hidden}) ${args.mode}` +
      `${args.mode === 'train' ? ` (${args.memory})` : ''} batch ${batch} on ` +
      `${info.backend} (threads ${info.threads ?? '-'}): median of ${runs} after ${warmup} warm-up; ` +
      `load average ${loadTimed.toFixed(2)}`,
  );
  console.log(
    `images/s ${result.imagesPerSecond.toFixed(1)}; peak RSS ${result.peakRssMb.toFixed(0)} MB`,
  );
  console.log('\n| phase | wall ms (median) | kernels | profiled kernel ms |');
  console.log('|---|---:|---:|---:|');
  for (const [p] of phases) {
    const k = byPhase[p] ?? { count: 0, ms: 0 };
    console.log(`| ${p} | ${result.wallMs[p].toFixed(1)} | ${k.count} | ${k.ms.toFixed(1)} |`);
  }
  console.log(
    `| total | ${result.wallMs.total.toFixed(1)} | ${result.kernelsPerStep} | ${kernelTotal.toFixed(1)} |`,
  );
  console.log(`(${scopes} customGrad/op scope entries not counted as kernels)\n`);
  console.log('| kernels writing | count | ms | per call ms |');
  console.log('|---|---:|---:|---:|');
  let lower = 0;
  for (const b of bySize) {
    const range = Number.isFinite(b.limit) ? `${lower + 1}-${b.limit} values` : `> ${lower} values`;
    const per = b.count ? (b.ms / b.count).toFixed(3) : '-';
    console.log(`| ${range} | ${b.count} | ${b.ms.toFixed(1)} | ${per} |`);
    lower = b.limit;
  }
  console.log('');
  console.log('| kernel | count | ms | % | per call ms | by phase | slowest call: input shapes |');
  console.log('|---|---:|---:|---:|---:|---|---|');
  for (const e of result.top) {
    const phasesText = Object.entries(e.phases)
      .map(([p, n]) => `${p.split('+')[0].slice(0, 3)} ${n}`)
      .join(', ');
    const shapes = (e.worst?.shapes ?? []).map((s) => (s ? `[${s}]` : '-')).join(' ');
    console.log(
      `| ${e.name} | ${e.count} | ${e.ms.toFixed(1)} | ${((100 * e.ms) / kernelTotal).toFixed(1)} | ` +
        `${(e.ms / e.count).toFixed(3)} | ${phasesText} | ${e.worst.ms.toFixed(2)} ms: ${shapes} |`,
    );
  }
  console.log('\n| kernel and input shapes | count | ms | % |');
  console.log('|---|---:|---:|---:|');
  for (const e of result.topShapes) {
    console.log(
      `| ${e.key.slice(0, 90)} | ${e.count} | ${e.ms.toFixed(1)} | ${((100 * e.ms) / kernelTotal).toFixed(1)} |`,
    );
  }
}

await main();
