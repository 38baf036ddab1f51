// Times one Glow flow step (ActNorm -> InvConv1x1 -> AffineCoupling with a ConvCouplingNet of
// hidden width 128) on a [64, 16, 16, 4] batch: forward, and forward + backward (gradients of a
// mean negative log-likelihood with respect to every trainable variable), per backend.
//
// Plain node against the BUILT package (build it first):
//   npm run build -w @hierglow/flow-layers -w @hierglow/backend-wasm && node bench/flow-step.mjs
// Options: --backends wasm,cpu   --runs 10   --warmup 2   --batch 64

import { backendInfo, selectBackend } from '@hierglow/backend-wasm';
import {
  ActNorm,
  AffineCoupling,
  ConvCouplingNet,
  InvConv1x1,
  withDataInit,
} from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';

const CHANNELS = 4;
const SIZE = 16;
const HIDDEN = 128;

function parseArgs(argv) {
  const options = { backends: ['wasm', 'cpu'], runs: 10, warmup: 2, batch: 64 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (flag === '--backends') options.backends = value.split(',');
    else if (flag === '--runs') options.runs = Number(value);
    else if (flag === '--warmup') options.warmup = Number(value);
    else if (flag === '--batch') options.batch = Number(value);
    else {
      console.error(
        `flow-step.mjs: unknown option '${flag}'. Options: --backends, --runs, --warmup, --batch`,
      );
      process.exit(2);
    }
    i++;
  }
  for (const key of ['runs', 'warmup', 'batch']) {
    if (!Number.isInteger(options[key]) || options[key] < (key === 'warmup' ? 0 : 1)) {
      console.error(`flow-step.mjs: --${key} must be a positive integer`);
      process.exit(2);
    }
  }
  return options;
}

function buildStep() {
  const layers = [
    new ActNorm({ shape: [CHANNELS] }),
    new InvConv1x1({ channels: CHANNELS, seed: 1 }),
    new AffineCoupling({
      channels: CHANNELS,
      net: new ConvCouplingNet({
        inChannels: CHANNELS / 2,
        outChannels: CHANNELS,
        hidden: HIDDEN,
        seed: 2,
      }),
    }),
  ];
  const forward = (x) =>
    tf.tidy(() => {
      let y = x;
      let logDet = tf.zeros([x.shape[0]]);
      for (const layer of layers) {
        const out = layer.forwardAndLogDet(y);
        y = out.y;
        logDet = tf.add(logDet, out.logDet);
      }
      return { y, logDet };
    });
  const variables = layers.flatMap((l) => l.trainableVariables());
  const dispose = () => {
    for (const l of layers) l.dispose();
  };
  return { forward, variables, dispose };
}

/** Mean negative log-likelihood (nats per example) under a standard normal on the output. */
function meanNll(step, x) {
  return tf.tidy(() => {
    const { y, logDet } = step.forward(x);
    const d = y.size / y.shape[0];
    const logPz = tf.sub(
      tf.mul(tf.sum(tf.reshape(tf.square(y), [y.shape[0], -1]), 1), -0.5),
      0.5 * d * Math.log(2 * Math.PI),
    );
    return tf.neg(tf.mean(tf.add(logPz, logDet)));
  });
}

async function time(fn, runs, warmup) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const mid = Math.floor(times.length / 2);
  return times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
}

function normalBatch(shape, seed) {
  // tfjs' seeded normal is enough here: the values only need to be typical, not reproducible
  // across backends.
  return tf.randomNormal(shape, 0, 1, 'float32', seed);
}

async function benchBackend(name, { runs, warmup, batch }) {
  await selectBackend(name);
  const info = backendInfo();
  const shape = [batch, SIZE, SIZE, CHANNELS];
  const step = buildStep();
  const x = normalBatch(shape, 1);
  const init = normalBatch(shape, 2);
  withDataInit(() => tf.dispose(step.forward(init)));
  init.dispose();
  const tensorsBefore = tf.memory().numTensors;

  const forwardMs = await time(
    async () => {
      const { y, logDet } = step.forward(x);
      await logDet.data(); // wait for the backend to finish
      tf.dispose([y, logDet]);
    },
    runs,
    warmup,
  );
  let loss = Number.NaN;
  const backwardMs = await time(
    async () => {
      const { value, grads } = tf.variableGrads(() => meanNll(step, x), step.variables);
      await Promise.all(Object.values(grads).map((g) => g.data()));
      loss = (await value.data())[0];
      tf.dispose([value, ...Object.values(grads)]);
    },
    runs,
    warmup,
  );
  const leaked = tf.memory().numTensors - tensorsBefore;
  x.dispose();
  step.dispose();
  return { name, info, forwardMs, backwardMs, loss, leaked };
}

const options = parseArgs(process.argv.slice(2));
const rows = [];
for (const name of options.backends) rows.push(await benchBackend(name, options));

const shape = `[${options.batch}, ${SIZE}, ${SIZE}, ${CHANNELS}]`;
console.log(
  `One flow step (ActNorm -> InvConv1x1 -> AffineCoupling, ConvCouplingNet hidden ${HIDDEN}), input ${shape}`,
);
console.log(
  `median of ${options.runs} runs after ${options.warmup} warm-up runs; node ${process.versions.node}`,
);
console.log('');
console.log(
  '| backend | SIMD | threads | forward (ms) | forward+backward (ms) | images/s (fwd+bwd) |',
);
console.log('|---|---|---|---:|---:|---:|');
for (const r of rows) {
  const simd = r.info.simd === null ? '-' : r.info.simd ? 'yes' : 'no';
  const threads = r.info.threads ?? '-';
  const ips = ((options.batch * 1000) / r.backwardMs).toFixed(0);
  console.log(
    `| ${r.name} | ${simd} | ${threads} | ${r.forwardMs.toFixed(1)} | ${r.backwardMs.toFixed(1)} | ${ips} |`,
  );
}
console.log('');
for (const r of rows) {
  console.log(
    `${r.name}: mean NLL ${r.loss.toFixed(1)} nats/example; tensors leaked over the runs: ${r.leaked}`,
  );
}
