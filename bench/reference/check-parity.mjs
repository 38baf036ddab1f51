#!/usr/bin/env node
/**
 * Checks hierglow's Glow against the independent PyTorch implementation in glow_ref.py: builds
 * a Glow, data-initialises it on real Fashion-MNIST images, saves it as a hierglow checkpoint,
 * scores the same batch in both, and requires logP and every per-scale term lp_k to agree within
 * 1e-4 relative, for a freshly initialised model and again after a few dozen training steps.
 * "Relative" is |hierglow − PyTorch| / max(|value|, Σ|F_k| + |A_k| + |Z_k|): a quantity summed
 * from terms of ~10³ nats is judged against their size even when they cancel to ~0 (the plain
 * relative error is printed too). The reference runs in float64, so the numbers measure
 * hierglow's float32 error.
 *
 *   npm run build -w @hierglow/flow-layers -w @hierglow/backend-wasm -w @hierglow/glow
 *   node bench/reference/check-parity.mjs [--backend wasm|cpu] [--steps 30] [--keep DIR]
 *       [--config '{"kind":"dense-glow","stepsPerLevel":2}']   (fields merged into the default
 *        config: Glow, L = 3, K = 4, hidden 32, 1x32x32)
 *
 * Needs /usr/bin/python3 with torch and numpy (Debian: apt-get install python3-torch) and the
 * Fashion-MNIST IDX files (Debian: dataset-fashion-mnist, /usr/share/datasets/fashion-mnist).
 * Exit status 0 when every comparison passes, 1 otherwise.
 *
 * Data: 28x28 images are resized to 32x32 bilinearly (half-pixel centres, edges clamped,
 * rounded to 0..255, as torchvision's Resize on PIL images does up to rounding details), then
 * x = v/256 − 0.5 (spec 2.1), with uniform [0, 1/256) noise for the initialisation and training
 * batches and bin centres (+1/512) for the held-out test batch.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { selectBackend } from '@hierglow/backend-wasm';
import * as glowPackage from '@hierglow/glow';
import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import { encodeSafetensorsF32 } from './safetensors.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * The glow package's API, with the trainer and checkpoint writer taken from its build output
 * when its index does not export them yet (they are being added in parallel).
 */
async function glowApi() {
  const api = { ...glowPackage };
  const dist = join(HERE, '../../packages/glow/dist');
  if (!api.saveCheckpoint) Object.assign(api, await import(join(dist, 'checkpoint/checkpoint.js')));
  if (!api.Trainer) Object.assign(api, await import(join(dist, 'train/trainer.js')));
  return api;
}
const glow = await glowApi();
const FASHION_MNIST = '/usr/share/datasets/fashion-mnist';
const PYTHON = '/usr/bin/python3';
const TOLERANCE = 1e-4;
const BATCH = 64;
const SIZE = 32;

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: process.env.HIERGLOW_BACKEND || 'wasm' },
    steps: { type: 'string', default: '30' },
    levels: { type: 'string', default: '3' },
    'steps-per-level': { type: 'string', default: '4' },
    hidden: { type: 'string', default: '32' },
    config: { type: 'string', default: '{}' },
    keep: { type: 'string' },
  },
});

const overrides = JSON.parse(args.config);
// The patch model has one scale of `steps` steps: no levels / stepsPerLevel.
const multiScale =
  overrides.kind === 'patch-glow'
    ? {}
    : { levels: Number(args.levels), stepsPerLevel: Number(args['steps-per-level']) };
const config = {
  kind: 'glow',
  height: SIZE,
  width: SIZE,
  channels: 1,
  ...multiScale,
  hidden: Number(args.hidden),
  seed: 20200610,
  ...overrides,
};

// ---------------------------------------------------------------------------------------------
// Fashion-MNIST: IDX images, bilinear 28 -> 32, pixels -> model inputs.

function readIdxImages(path, count) {
  const bytes = gunzipSync(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== 2051)
    throw new Error(`${path}: not an IDX image file (magic ${view.getUint32(0)})`);
  const [n, rows, cols] = [view.getUint32(4), view.getUint32(8), view.getUint32(12)];
  const take = Math.min(count, n);
  const images = [];
  for (let i = 0; i < take; i++)
    images.push(bytes.subarray(16 + i * rows * cols, 16 + (i + 1) * rows * cols));
  return { images, rows, cols };
}

function resizeBilinear(image, rows, cols, size) {
  const out = new Uint8Array(size * size);
  const coord = (i, from) => {
    const src = Math.min(Math.max((i + 0.5) * (from / size) - 0.5, 0), from - 1);
    const i0 = Math.floor(src);
    return [i0, Math.min(i0 + 1, from - 1), src - i0];
  };
  for (let y = 0; y < size; y++) {
    const [y0, y1, fy] = coord(y, rows);
    for (let x = 0; x < size; x++) {
      const [x0, x1, fx] = coord(x, cols);
      const top = image[y0 * cols + x0] * (1 - fx) + image[y0 * cols + x1] * fx;
      const bottom = image[y1 * cols + x0] * (1 - fx) + image[y1 * cols + x1] * fx;
      out[y * size + x] = Math.round(top * (1 - fy) + bottom * fy);
    }
  }
  return out;
}

/** NHWC [n, 32, 32, 1] float32 inputs: v/256 − 0.5 plus noise (seeded) or the bin centre. */
function toInputs(images, { noiseSeed = null } = {}) {
  const rng = noiseSeed === null ? null : createRng(noiseSeed);
  const data = new Float32Array(images.length * SIZE * SIZE);
  images.forEach((img, b) => {
    for (let i = 0; i < img.length; i++) {
      const offset = rng ? rng.uniform() / 256 : 1 / 512;
      data[b * img.length + i] = img[i] / 256 - 0.5 + offset;
    }
  });
  return data;
}

function loadImages(file, count) {
  const { images, rows, cols } = readIdxImages(join(FASHION_MNIST, file), count);
  return images.map((img) => resizeBilinear(img, rows, cols, SIZE));
}

// ---------------------------------------------------------------------------------------------
// Files for the reference: a checkpoint directory and the input batch.

async function saveModel(model, dir) {
  await glow.saveCheckpoint(dir, {
    model,
    metadata: { training: { purpose: 'parity check with glow_ref.py' } },
  });
}

// ---------------------------------------------------------------------------------------------
// One comparison.

function scoreInTfjs(model, data, n) {
  return tf.tidy(() => {
    const x = tf.tensor4d(data, [n, SIZE, SIZE, 1]);
    const { logP, perScale } = model.logProb(x);
    const terms = model.logProbTerms(x);
    const arr = (t) => Array.from(t.dataSync());
    return {
      logP: arr(logP),
      perScale: perScale.map(arr),
      flowLogDets: terms.flowLogDets.map(arr),
      priorLogDets: terms.priorLogDets.map(arr),
      baseLogProbs: terms.baseLogProbs.map(arr),
    };
  });
}

function scoreInPyTorch(checkpointDir, inputPath, outputPath) {
  const run = spawnSync(
    PYTHON,
    [
      join(HERE, 'glow_ref.py'),
      'score',
      '--checkpoint',
      checkpointDir,
      '--input',
      inputPath,
      '--output',
      outputPath,
    ],
    { encoding: 'utf8' },
  );
  if (run.status !== 0)
    throw new Error(`glow_ref.py failed (status ${run.status}):\n${run.stderr}`);
  return JSON.parse(readFileSync(outputPath, 'utf8'));
}

/** max over examples of |a − b| / |b|. */
function maxRelativeError(a, b) {
  let worst = 0;
  for (let i = 0; i < b.length; i++)
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
  return worst;
}

/**
 * max over examples of |a − b| / max(|b|, magnitude): the relative error, measured against the
 * size of the terms a quantity is summed from when it is smaller than they are. log p(x) is a
 * sum of terms of ~10³ nats that can cancel to ~0 for some images; its float32 rounding error is
 * set by the terms, and a plain relative error would divide it by the accidental near-zero sum.
 */
function maxScaledError(a, b, magnitude) {
  let worst = 0;
  for (let i = 0; i < b.length; i++) {
    worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), magnitude[i]));
  }
  return worst;
}

/** Per example Σ |F_k| + |A_k| + |Z_k| over the given scales, from the reference's terms. */
function termMagnitude(ref, scales) {
  return ref.logP.map((_, i) =>
    scales.reduce(
      (s, k) =>
        s +
        Math.abs(ref.flowLogDets[k][i]) +
        Math.abs(ref.priorLogDets[k][i]) +
        Math.abs(ref.baseLogProbs[k][i]),
      0,
    ),
  );
}

const mean = (v) => v.reduce((s, x) => s + x, 0) / v.length;

async function compare(label, model, data, workDir) {
  const n = data.length / (SIZE * SIZE);
  const dir = join(workDir, label.replace(/[^a-z0-9]+/gi, '-').toLowerCase());
  mkdirSync(dir, { recursive: true });
  const checkpointDir = join(dir, 'checkpoint');
  await saveModel(model, checkpointDir);
  const inputPath = join(dir, 'batch.safetensors');
  writeFileSync(inputPath, encodeSafetensorsF32({ x: { shape: [n, SIZE, SIZE, 1], data } }));
  const ours = scoreInTfjs(model, data, n);
  const ref = scoreInPyTorch(checkpointDir, inputPath, join(dir, 'reference.json'));
  const allScales = ref.perScale.map((_, k) => k);
  const rows = [['logP', ours.logP, ref.logP, termMagnitude(ref, allScales)]];
  ours.perScale.forEach((v, k) => {
    rows.push([`perScale[${k}]`, v, ref.perScale[k], termMagnitude(ref, [k])]);
  });
  for (const term of ['flowLogDets', 'priorLogDets', 'baseLogProbs']) {
    ours[term].forEach((v, k) => {
      rows.push([`  ${term}[${k}]`, v, ref[term][k], null]);
    });
  }
  console.log(`\n${label} (${n} images)`);
  console.log(
    '  quantity              mean (hierglow)    mean (PyTorch)   max rel. err   max err/max(|v|,Σ|terms|)',
  );
  let ok = true;
  for (const [name, a, b, magnitude] of rows) {
    const plain = maxRelativeError(a, b);
    let verdict = '';
    if (magnitude) {
      const scaled = maxScaledError(a, b, magnitude);
      const pass = scaled <= TOLERANCE;
      ok &&= pass;
      verdict = `   ${scaled.toExponential(2)}  ${pass ? 'ok' : 'FAIL'}`;
    }
    console.log(
      `  ${name.padEnd(20)} ${mean(a).toFixed(4).padStart(16)} ${mean(b).toFixed(4).padStart(16)}   ${plain.toExponential(2)}${verdict}`,
    );
  }
  const d = config.height * config.width * config.channels;
  const bpd = mean(ours.logP.map((lp) => (-lp + d * Math.log(256)) / (d * Math.LN2)));
  console.log(`  mean bits/dim (hierglow): ${bpd.toFixed(4)}`);
  return { label, ok };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const info = await selectBackend(args.backend);
  const steps = Number(args.steps);
  const workDir = args.keep ?? mkdtempSync(join(tmpdir(), 'hierglow-parity-'));
  console.log(`backend ${info.backend}; model ${JSON.stringify(config)}; work dir ${workDir}`);

  const trainImages = loadImages('train-images-idx3-ubyte.gz', BATCH * (1 + Math.max(steps, 0)));
  const testImages = loadImages('t10k-images-idx3-ubyte.gz', BATCH);
  const initData = toInputs(trainImages.slice(0, BATCH), { noiseSeed: 1 });
  const testData = toInputs(testImages);

  const model = glow.createModel(config);
  const initBatch = tf.tensor4d(initData, [BATCH, SIZE, SIZE, 1]);
  model.initialize(initBatch);
  initBatch.dispose();

  const results = [];
  results.push(
    await compare('fresh model, its init batch (noisy train images)', model, initData, workDir),
  );
  results.push(await compare('fresh model, test images (bin centres)', model, testData, workDir));

  if (steps > 0) {
    const trainer = new glow.Trainer(model, {
      epochs: 1,
      stepsPerEpoch: steps,
      evaluateAtStart: false,
    });
    const started = Date.now();
    let last = null;
    await trainer.fit(function* ({ seed }) {
      for (let s = 0; s < steps; s++) {
        const images = trainImages.slice(BATCH * (1 + s), BATCH * (2 + s));
        yield { x: toInputs(images, { noiseSeed: seed + s }), shape: [BATCH, SIZE, SIZE, 1] };
      }
    });
    trainer.optimizer.dispose?.();
    last = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`\ntrained ${steps} steps of batch ${BATCH} in ${last} s`);
    results.push(
      await compare(
        `after ${steps} training steps, test images (bin centres)`,
        model,
        testData,
        workDir,
      ),
    );
    results.push(
      await compare(`after ${steps} training steps, init batch`, model, initData, workDir),
    );
  }
  model.dispose();
  if (!args.keep) rmSync(workDir, { recursive: true, force: true });

  const failed = results.filter((r) => !r.ok);
  console.log(
    failed.length === 0
      ? `\nPASS: logP and every perScale term agree within ${TOLERANCE} relative in all ${results.length} comparisons`
      : `\nFAIL: ${failed.map((r) => r.label).join('; ')}`,
  );
  process.exitCode = failed.length === 0 ? 0 : 1;
}

await main();
// Exit explicitly: a backend's worker pool must not keep a finished check alive.
process.exit(process.exitCode ?? 0);
