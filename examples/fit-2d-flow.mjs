// Fit a small normalizing flow to 2-D "two moons" data with @hierglow/flow-layers, then report
// the average log-likelihood (nats) of held-out points before and after training.
//
//   node examples/fit-2d-flow.mjs [--steps 400] [--backend wasm]
//
// The flow: 6 x [ActNorm -> affine coupling (dense net) -> Reverse], base N(0, I), as a
// NormalizingFlow distribution.
import { parseArgs } from 'node:util';
import { selectBackend } from '@hierglow/backend-wasm';
import {
  ActNorm,
  AffineCoupling,
  Chain,
  DenseCouplingNet,
  NormalizingFlow,
  Reverse,
  StandardNormal,
  withDataInit,
} from '@hierglow/flow-layers';
import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';

const { values } = parseArgs({
  options: { steps: { type: 'string', default: '400' }, backend: { type: 'string' } },
});
const steps = Number(values.steps);
if (!Number.isInteger(steps) || steps < 1) {
  console.error(`--steps must be a positive integer, got '${values.steps}'`);
  process.exit(2);
}
const info = await selectBackend(values.backend);

/** Two interleaved half circles with Gaussian noise, from a seeded generator. */
function twoMoons(n, seed) {
  const rng = createRng(seed);
  const data = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const t = Math.PI * rng.uniform();
    const upper = i % 2 === 0;
    data[2 * i] = (upper ? Math.cos(t) : 1 - Math.cos(t)) + 0.08 * rng.normal();
    data[2 * i + 1] = (upper ? Math.sin(t) : 0.5 - Math.sin(t)) + 0.08 * rng.normal();
  }
  return tf.tensor2d(data, [n, 2]);
}

const layers = [];
for (let k = 0; k < 6; k++) {
  layers.push(new ActNorm({ shape: [2] }));
  layers.push(
    new AffineCoupling({
      channels: 2,
      net: new DenseCouplingNet({ inFeatures: 1, outFeatures: 2, hidden: 64, seed: 100 + k }),
    }),
  );
  layers.push(new Reverse());
}
const flow = new Chain(layers);
// The density: log p(x) = log N(f(x); 0, I) + log|det ∂f/∂x|, in nats per point.
const density = new NormalizingFlow(new StandardNormal([2]), flow);
const meanLogProb = (x) => tf.tidy(() => tf.mean(density.logProb(x)).dataSync()[0]);

const train = twoMoons(4096, 1);
const test = twoMoons(1024, 2);
withDataInit(() => tf.dispose(flow.forwardAndLogDet(tf.slice(train, [0, 0], [512, 2]))));
const before = meanLogProb(test);

const optimizer = tf.train.adam(5e-3);
const rng = createRng(3);
const batchSize = 256;
const started = Date.now();
for (let step = 1; step <= steps; step++) {
  const offset = rng.int(4096 - batchSize);
  const loss = optimizer.minimize(
    () => tf.neg(tf.mean(density.logProb(tf.slice(train, [offset, 0], [batchSize, 2])))),
    true,
    density.trainableVariables(),
  );
  if (step % 100 === 0 || step === steps) {
    console.log(`step ${step}/${steps}  train NLL ${loss.dataSync()[0].toFixed(3)} nats`);
  }
  loss.dispose();
}
const after = meanLogProb(test);
const seconds = (Date.now() - started) / 1000;
console.log(
  `backend ${info.backend}${info.threads ? ` (${info.threads} threads)` : ''}, ${steps} steps in ${seconds.toFixed(1)} s`,
);
console.log(`held-out log-likelihood: ${before.toFixed(3)} -> ${after.toFixed(3)} nats per point`);
console.log(
  `a full-covariance Gaussian fitted to the same data: ${gaussianBaseline(train, test).toFixed(3)} nats per point`,
);

/** Held-out log-likelihood of the maximum-likelihood 2-D Gaussian: what a flow must beat. */
function gaussianBaseline(trainX, testX) {
  const a = trainX.dataSync();
  const n = a.length / 2;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += a[2 * i] / n;
    my += a[2 * i + 1] / n;
  }
  let sxx = 0;
  let syy = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    const dx = a[2 * i] - mx;
    const dy = a[2 * i + 1] - my;
    sxx += (dx * dx) / n;
    syy += (dy * dy) / n;
    sxy += (dx * dy) / n;
  }
  const det = sxx * syy - sxy * sxy;
  const b = testX.dataSync();
  let total = 0;
  for (let i = 0; i < b.length / 2; i++) {
    const dx = b[2 * i] - mx;
    const dy = b[2 * i + 1] - my;
    const q = (syy * dx * dx - 2 * sxy * dx * dy + sxx * dy * dy) / det;
    total += -0.5 * (q + 2 * Math.log(2 * Math.PI) + Math.log(det));
  }
  return total / (b.length / 2);
}
