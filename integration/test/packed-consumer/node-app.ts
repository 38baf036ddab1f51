// A Node program against the installed tarballs: type-checked under moduleResolution bundler and
// node16 with skipLibCheck false, emitted and run under plain node. Prints one JSON line.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auroc as aurocFromRoot,
  finalScaleScore,
  readLikelihoodOutput,
} from '@hierglow/anomaly-metrics';
import { auroc } from '@hierglow/anomaly-metrics/metrics';
import { selectBackend } from '@hierglow/backend-wasm';
import { type CommandIO, main } from '@hierglow/cli';
import { inMemoryDataset } from '@hierglow/datasets';
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
import { checkJacobianLogDet, seededNormal } from '@hierglow/flow-layers/testing';
import { createModel, restoreModel, restoreModelFromBytes, saveCheckpoint } from '@hierglow/glow';
import * as tf from '@tensorflow/tfjs-core';

const backend = await selectBackend('cpu');

// A 2-D flow as a distribution, checked with the exact Jacobian.
const bijector = new Chain([
  new ActNorm({ shape: [2] }),
  new AffineCoupling({
    channels: 2,
    net: new DenseCouplingNet({ inFeatures: 1, outFeatures: 2, hidden: 8, seed: 1 }),
  }),
  new Reverse(),
]);
const points = seededNormal([16, 2], 3);
withDataInit(() => tf.dispose(bijector.forward(points)));
checkJacobianLogDet(bijector, points);
const flow = new NormalizingFlow(new StandardNormal([2]), bijector);
const flowLogProb = await flow.logProb(points).data();
const { x: samples, logProb } = flow.sampleAndLogProb(4, 7);

// A tiny Glow, saved and restored from disk and from bytes.
const model = createModel({
  kind: 'glow',
  height: 4,
  width: 4,
  channels: 1,
  levels: 2,
  stepsPerLevel: 1,
  hidden: 4,
});
const images = seededNormal([8, 4, 4, 1], 5, 0.2);
model.initialize(images);
const dir = await mkdtemp(join(tmpdir(), 'packed-consumer-'));
await saveCheckpoint(join(dir, 'ckpt'), { model });
const files = new Map<string, Uint8Array>();
for (const name of await readdir(join(dir, 'ckpt'))) {
  files.set(name, await readFile(join(dir, 'ckpt', name)));
}
const fromDisk = await restoreModel(join(dir, 'ckpt'), createModel);
const fromBytes = await restoreModelFromBytes(files, createModel, { name: 'tiny' });
const scores = await readLikelihoodOutput(fromBytes.model.logProb(images));
const diskScores = await readLikelihoodOutput(fromDisk.model.logProb(images));
const sameModel = scores.logP.every((v, i) => v === diskScores.logP[i]);
const noise = seededNormal([8, 4, 4, 1], 6, 2);
const noiseScores = await readLikelihoodOutput(fromBytes.model.logProb(noise));
const separation = auroc(finalScaleScore(scores), finalScaleScore(noiseScores));
await rm(dir, { recursive: true, force: true });

// Datasets and the CLI as libraries.
const ds = inMemoryDataset({
  pixels: new Uint8Array(2 * 2 * 2 * 2),
  count: 2,
  height: 2,
  width: 2,
  channels: 2,
});
const lines: string[] = [];
const io: CommandIO = {
  out: (line) => lines.push(line),
  err: (line) => lines.push(line),
  signal: new AbortController().signal,
};
const code = await main(['--version'], io);

console.log(
  JSON.stringify({
    backend: backend.backend,
    flowLogProbFinite: Array.from(flowLogProb).every(Number.isFinite),
    sampleShape: samples.shape,
    sampleLogProbs: logProb.shape[0],
    sameModel,
    separation,
    sameAuroc: separation === aurocFromRoot(finalScaleScore(scores), finalScaleScore(noiseScores)),
    datasetCount: ds.count,
    cliExit: code,
    cliVersion: lines[0],
  }),
);
