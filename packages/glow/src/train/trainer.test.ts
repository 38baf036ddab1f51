import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '@hierglow/backend-wasm';
import { ConfigError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, restoreModel } from '../checkpoint/checkpoint-directory.js';
import type { LogProbOutput, TrainableModel } from '../state/trainable-model.js';
import type { DataStream, TrainingBatch } from './data.js';
import { initializeFromData, meanBitsPerDim } from './evaluation.js';
import { createTinyFlow, fakeBatch, TinyFlow } from './test-support/tiny-flow.js';
import { Trainer, type TrainerEvent } from './trainer.js';

let root: string;
beforeAll(async () => {
  await selectBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'hierglow-train-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const H = 2;
const W = 3;
const D = H * W * 2;

/** A deterministic stream of `batches` batches of `size` images per pass. */
function stream(batches: number, size = 4): DataStream {
  return function* ({ epoch, seed }) {
    for (let i = 0; i < batches; i++) yield fakeBatch(seed % 1000, epoch, i, size, H, W);
  };
}

async function initialisedModel(seed = 3): Promise<TinyFlow> {
  const model = new TinyFlow({ height: H, width: W, hidden: 6, seed });
  await initializeFromData(model, stream(3, 8)({ epoch: 0, seed: 77 }), 20);
  return model;
}

function values(model: TrainableModel): Record<string, number[]> {
  return Object.fromEntries(
    Object.entries(model.variables()).map(([k, v]) => [k, Array.from(v.dataSync())]),
  );
}

function tensorBatch(b: ReturnType<typeof fakeBatch>): TrainingBatch {
  return { x: tf.tensor4d(b.x, [...b.shape]), shape: b.shape };
}

/** Wraps a model so that examples whose first pixel is > 100 get a NaN log-density and NaN gradients. */
class Poisoned implements TrainableModel {
  constructor(private readonly inner: TrainableModel) {}
  get numDims() {
    return this.inner.numDims;
  }
  logProb(x: tf.Tensor4D): LogProbOutput {
    return tf.tidy(() => {
      const marker = tf.where(
        tf.greater(tf.reshape(tf.slice(x, [0, 0, 0, 0], [-1, 1, 1, 1]), [-1]), 100),
        tf.fill([x.shape[0]], -1),
        tf.fill([x.shape[0]], 1),
      );
      // sqrt(−1) = NaN multiplies the log-density, so the gradient through it is NaN as well.
      return { logP: tf.mul(this.inner.logProb(x).logP, tf.sqrt(marker)) as tf.Tensor1D };
    });
  }
  variables() {
    return this.inner.variables();
  }
  trainableVariables() {
    return this.inner.trainableVariables();
  }
  getConfig() {
    return this.inner.getConfig();
  }
  dispose() {
    this.inner.dispose();
  }
}

function poisonedBatch(
  poisoned: number[],
  size = 8,
): { batch: TrainingBatch; clean: TrainingBatch } {
  const b = fakeBatch(9, 0, 0, size, H, W);
  const x = b.x.slice();
  for (const i of poisoned) x[i * D] = 1000;
  const per = D;
  const cleanRows = [...Array(size).keys()].filter((i) => !poisoned.includes(i));
  const cleanX = new Float32Array(cleanRows.length * per);
  cleanRows.forEach((r, j) => {
    cleanX.set(b.x.subarray(r * per, (r + 1) * per), j * per);
  });
  return {
    batch: { x, shape: [size, H, W, 2] },
    clean: { x: cleanX, shape: [cleanRows.length, H, W, 2] },
  };
}

describe('Trainer', () => {
  it('minimises the mean discrete NLL −log p(x) + D ln 256 and reports it in nats and bits/dim', async () => {
    const model = await initialisedModel();
    const trainer = new Trainer(model, { epochs: 1, optimizer: { learningRate: 0.01 } });
    const b = fakeBatch(1, 0, 0, 4, H, W);
    const x = tf.tensor4d(b.x, [...b.shape]);
    const logP = tf.tidy(() => Array.from(model.logProb(x).logP.dataSync()));
    const expected = logP.reduce((s, v) => s + (D * Math.log(256) - v), 0) / logP.length;
    const report = trainer.trainStep(tensorBatch(b));
    expect(report.nll).toBeCloseTo(expected, 3);
    expect(report.loss).toBeCloseTo(expected, 3);
    expect(report.bitsPerDim).toBeCloseTo(expected / (D * Math.LN2), 6);
    expect(report.skipped).toBe(false);
    expect(trainer.optimizer.iterations).toBe(1);
    // The update moved the weights downhill on this batch.
    const after = tf.tidy(() => Array.from(model.logProb(x).logP.dataSync()));
    expect(after.reduce((a, v) => a + v, 0)).toBeGreaterThan(logP.reduce((a, v) => a + v, 0));
    x.dispose();
    model.dispose();
  });

  it('trains: the mean loss falls over epochs; evaluates at the start and after each epoch', async () => {
    const model = await initialisedModel();
    const events: TrainerEvent[] = [];
    const trainer = new Trainer(model, {
      epochs: 4,
      optimizer: { learningRate: 0.02 },
      evaluate: async ({ model: m }) => ({
        bpd: (await meanBitsPerDim(m, stream(2)({ epoch: 99, seed: 5 }))).meanBitsPerDim,
      }),
      onEvent: (e) => events.push(e),
    });
    const result = await trainer.fit(stream(5));
    expect(result.reason).toBe('finished');
    expect(result.state).toMatchObject({ step: 20, epoch: 4, batchInEpoch: 0, finished: true });
    const epochs = events.filter((e) => e.type === 'epoch');
    expect(epochs.map((e) => e.epoch)).toEqual([0, 1, 2, 3]);
    expect(epochs[3]!.meanLoss).toBeLessThan(epochs[0]!.meanLoss);
    const evals = events.filter((e) => e.type === 'evaluation');
    expect(evals.map((e) => e.epoch)).toEqual([-1, 0, 1, 2, 3]);
    expect(evals[4]!.metrics.bpd).toBeLessThan(evals[0]!.metrics.bpd!);
    const steps = events.filter((e) => e.type === 'step');
    expect(steps).toHaveLength(20);
    expect(steps[0]).toMatchObject({ step: 1, epoch: 0, batchInEpoch: 1, examples: 4, dropped: 0 });
    expect(steps[0]!.etaSeconds).toBeNull();
    // After the first epoch the epoch length is known: the ETA counts down.
    expect(steps[6]!.etaSeconds).toBeGreaterThan(0);
    expect(steps[19]!.etaSeconds).toBe(0);
    expect(steps.every((s) => s.imagesPerSecond > 0 && s.learningRate === 0.02)).toBe(true);
    model.dispose();
  });

  it('resumes from a checkpoint saved on abort and continues with exactly the same losses', async () => {
    const epochs = 2;
    const data = stream(5);
    const lossesOf = (events: TrainerEvent[]) =>
      events.flatMap((e) => (e.type === 'step' ? [[e.step, e.loss] as const] : []));

    const straightEvents: TrainerEvent[] = [];
    const straight = await initialisedModel();
    await new Trainer(straight, {
      epochs,
      seed: 123,
      optimizer: { learningRate: 0.01 },
      onEvent: (e) => straightEvents.push(e),
    }).fit(data);

    const dir = join(root, 'resume');
    const firstEvents: TrainerEvent[] = [];
    const controller = new AbortController();
    const first = await initialisedModel();
    const firstResult = await new Trainer(first, {
      epochs,
      seed: 123,
      optimizer: { learningRate: 0.01 },
      signal: controller.signal,
      checkpoint: { dir },
      onEvent: (e) => {
        firstEvents.push(e);
        if (e.type === 'step' && e.step === 3) controller.abort();
      },
    }).fit(data);
    expect(firstResult.reason).toBe('aborted');
    expect(firstResult.state).toMatchObject({
      step: 3,
      epoch: 0,
      batchInEpoch: 3,
      finished: false,
    });
    expect(firstEvents.at(-1)).toMatchObject({ type: 'checkpoint', reason: 'abort', step: 3 });
    first.dispose();

    const restored = await restoreModel(dir, createTinyFlow);
    const secondEvents: TrainerEvent[] = [];
    const resumed = new Trainer(restored.model, {
      epochs,
      seed: 999, // ignored: the checkpoint's seed wins
      optimizer: { learningRate: 0.01 },
      onEvent: (e) => secondEvents.push(e),
    });
    resumed.restore(restored);
    tf.dispose([
      ...Object.values(restored.optimizerState!.expAvg),
      ...Object.values(restored.optimizerState!.expInf),
    ]);
    const secondResult = await resumed.fit(data);
    expect(secondResult.state.step).toBe(10);
    expect(secondEvents.some((e) => e.type === 'evaluation')).toBe(false);

    const straightLosses = lossesOf(straightEvents);
    expect([...lossesOf(firstEvents), ...lossesOf(secondEvents)]).toEqual(straightLosses);
    expect(new Set(straightLosses.map(([, l]) => l)).size).toBe(10);
    expect(values(restored.model)).toEqual(values(straight));
    straight.dispose();
    restored.model.dispose();
  });

  it('drops non-finite examples and recomputes when more than a quarter of the batch is finite', async () => {
    const model = await initialisedModel();
    const twin = await initialisedModel();
    const { batch, clean } = poisonedBatch([2]);
    const report = new Trainer(new Poisoned(model), { epochs: 1 }).trainStep(batch);
    expect(report).toMatchObject({ examples: 7, dropped: 1, skipped: false });
    const reference = new Trainer(twin, { epochs: 1 }).trainStep(clean);
    expect(report.nll).toBe(reference.nll);
    expect(values(model)).toEqual(values(twin));
    model.dispose();
    twin.dispose();
  });

  it('also drops the examples the frozen model cannot score, when it scores the training batch', async () => {
    const model = await initialisedModel(3);
    const frozen = new Poisoned(await initialisedModel(4));
    const seenRows: number[] = [];
    const trainer = new Trainer(model, {
      epochs: 1,
      fineTune: {
        frozenModel: frozen,
        frozenOnTrainingBatch: true,
        extraLosses: [
          {
            name: 'gap',
            compute: (ctx) => {
              seenRows.push(ctx.x.shape[0], ctx.frozen!.logP.shape[0]);
              return tf.mean(tf.sub(ctx.logP, ctx.frozen!.logP)) as tf.Scalar;
            },
          },
        ],
      },
    });
    // The trained model scores every example; the frozen one fails on example 5.
    const { batch } = poisonedBatch([5]);
    const report = trainer.trainStep(batch);
    expect(report).toMatchObject({ examples: 7, dropped: 1, skipped: false });
    expect(Number.isFinite(report.extraLosses.gap)).toBe(true);
    expect(seenRows).toEqual([8, 8, 7, 7]);
    model.dispose();
    frozen.dispose();
  });

  it('skips the update when a gradient is not finite (a quarter or less of the batch finite)', async () => {
    const model = await initialisedModel();
    const before = values(model);
    const events: TrainerEvent[] = [];
    const trainer = new Trainer(new Poisoned(model), { epochs: 1, onEvent: (e) => events.push(e) });
    // 2 of 8 finite: exactly a quarter, so no drop; the NaN gradients skip the step.
    const { batch } = poisonedBatch([0, 1, 3, 4, 5, 7]);
    const report = trainer.trainStep(batch);
    expect(report).toMatchObject({ examples: 8, dropped: 0, skipped: true });
    expect(Number.isNaN(report.loss)).toBe(true);
    expect(values(model)).toEqual(before);
    expect(trainer.optimizer.iterations).toBe(0);
    expect(trainer.optimizer.getState().steps).toEqual({});
    model.dispose();
  });

  it('stops as diverged after maxConsecutiveSkippedSteps non-finite steps in a row, saving nothing', async () => {
    const model = await initialisedModel();
    const before = values(model);
    const dir = join(root, 'diverged', 'checkpoint');
    const steps: boolean[] = [];
    const trainer = new Trainer(new Poisoned(model), {
      epochs: 2,
      evaluateAtStart: false,
      maxConsecutiveSkippedSteps: 5,
      checkpoint: { dir, everySteps: 100 },
      onEvent: (e) => {
        if (e.type === 'step') steps.push(e.skipped);
      },
    });
    // Every example poisoned: every gradient is NaN.
    const all = [0, 1, 2, 3, 4, 5, 6, 7];
    await expect(
      trainer.fit(function* () {
        for (let i = 0; i < 20; i++) yield poisonedBatch(all).batch;
      }),
    ).rejects.toThrow(
      /training diverged: steps 1-5 \(5 in a row\) had a non-finite gradient .*stopped without saving/,
    );
    expect(steps).toEqual([true, true, true, true, true]);
    expect(values(model)).toEqual(before);
    await expect(loadCheckpoint(dir)).rejects.toThrow(/No checkpoint/);
    expect(() => new Trainer(model, { epochs: 1, maxConsecutiveSkippedSteps: 0 })).toThrow(
      /'maxConsecutiveSkippedSteps' must be an integer >= 1/,
    );
    model.dispose();
  });

  it('keeps tf.memory().numTensors flat over hundreds of steps', async () => {
    const model = await initialisedModel();
    const counts: number[] = [];
    const trainer = new Trainer(model, {
      epochs: 25,
      evaluateAtStart: false,
      onEvent: (e) => {
        if (e.type === 'step') counts.push(tf.memory().numTensors);
      },
    });
    // Half of the batches come as tensors, which the trainer owns and must free.
    await trainer.fit(function* ({ epoch, seed }) {
      for (let i = 0; i < 10; i++) {
        const b = fakeBatch(seed % 1000, epoch, i, 4, H, W);
        yield i % 2 ? tensorBatch(b) : b;
      }
    });
    expect(counts).toHaveLength(250);
    expect(counts[249]).toBe(counts[1]);
    expect(Math.max(...counts.slice(1))).toBe(counts[1]);
    model.dispose();
  });

  it('fine-tunes with extra losses on an auxiliary stream and a frozen model it never updates', async () => {
    const model = await initialisedModel(3);
    const frozen = await initialisedModel(4);
    const frozenBefore = values(frozen);
    const lambda = 5;
    const temperature = 10;
    const seen: Array<{ aux: number[]; frozenAux: number[]; frozenMain: number[] }> = [];
    const counts: number[] = [];
    const events: TrainerEvent[] = [];
    const trainer = new Trainer(model, {
      epochs: 4,
      evaluateAtStart: false,
      fineTune: {
        auxiliary: stream(3, 6),
        frozenModel: frozen,
        frozenOnTrainingBatch: true,
        extraLosses: [
          {
            name: 'outlier',
            compute: (ctx) => {
              const aux = ctx.auxiliary!;
              seen.push({
                aux: Array.from(aux.x.dataSync()),
                frozenAux: Array.from(aux.frozen!.logP.dataSync()),
                frozenMain: Array.from(ctx.frozen!.logP.dataSync()),
              });
              const delta = tf.sub(aux.logProb().logP, aux.frozen!.logP);
              return tf.mul(tf.mean(tf.softplus(tf.div(delta, temperature))), lambda) as tf.Scalar;
            },
          },
        ],
      },
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'step') counts.push(tf.memory().numTensors);
      },
    });
    const result = await trainer.fit(stream(5));
    const steps = events.filter((e) => e.type === 'step');
    expect(steps).toHaveLength(20);
    // 20 steps over an auxiliary stream of 3 batches per pass: it cycled through 7 passes.
    expect(result.state).toMatchObject({
      auxiliaryBatches: 20,
      auxiliaryPass: 6,
      auxiliaryBatchInPass: 2,
    });
    expect(seen[0]!.aux.length).toBe(6 * D);
    expect(seen[0]!.frozenMain.length).toBe(4);
    expect(seen[3]!.aux).not.toEqual(seen[0]!.aux); // a new pass reshuffles (new seed)
    // The extra term of step 1, recomputed on an untouched twin of the trained model.
    const twin = await initialisedModel(3);
    const expectedExtra = tf.tidy(() => {
      const x = tf.tensor4d(seen[0]!.aux, [6, H, W, 2]);
      const delta = tf.sub(twin.logProb(x).logP, frozen.logProb(x).logP);
      expect(Array.from(frozen.logProb(x).logP.dataSync())).toEqual(seen[0]!.frozenAux);
      return tf.mul(tf.mean(tf.softplus(tf.div(delta, temperature))), lambda).dataSync()[0]!;
    });
    twin.dispose();
    // Loss = NLL + λ·mean softplus(Δ/T), with Δ against the frozen model.
    expect(steps[0]!.extraLosses.outlier).toBeCloseTo(expectedExtra, 4);
    expect(steps[0]!.loss).toBeCloseTo(steps[0]!.nll + expectedExtra, 3);
    expect(values(frozen)).toEqual(frozenBefore);
    expect(counts.at(-1)).toBe(counts[1]);
    model.dispose();
    frozen.dispose();
  });

  it('saves checkpoints every N steps with the optimizer and the training state', async () => {
    const model = await initialisedModel();
    const dir = join(root, 'periodic');
    const events: TrainerEvent[] = [];
    await new Trainer(model, {
      epochs: 2,
      checkpoint: { dir, everySteps: 4, metadata: { training: { dataset: 'fake' } } },
      onEvent: (e) => events.push(e),
    }).fit(stream(3));
    const saves = events.filter((e) => e.type === 'checkpoint');
    expect(saves.map((e) => [e.reason, e.step])).toEqual([
      ['steps', 4],
      ['end', 6],
    ]);
    const ckpt = await loadCheckpoint(dir);
    expect(ckpt.trainingState).toMatchObject({ step: 6, epoch: 2, finished: true });
    expect(ckpt.optimizerState!.iterations).toBe(6);
    expect(ckpt.config.training).toMatchObject({
      dataset: 'fake',
      epochs: 2,
      optimizer: { name: 'adamax' },
    });
    ckpt.dispose();
    model.dispose();
  });

  it("keeps a weights-only model after each epoch, as the weights stood at that epoch's end", async () => {
    const model = await initialisedModel();
    const dir = join(root, 'epoch-models');
    const atEpochEnd: Record<string, number[]>[] = [];
    const events: TrainerEvent[] = [];
    await new Trainer(model, {
      epochs: 2,
      checkpoint: {
        dir: join(dir, 'checkpoint'),
        everyEpochs: 1,
        epochModelDir: (n) => join(dir, 'epochs', String(n)),
      },
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'epoch') atEpochEnd.push(values(model));
      },
    }).fit(stream(3));
    const saves = events.filter((e) => e.type === 'checkpoint');
    expect(saves.map((e) => [e.reason, e.step, e.epoch])).toEqual([
      ['epoch-model', 3, 1],
      ['epochs', 3, 1],
      ['epoch-model', 6, 2],
      ['end', 6, 2],
    ]);
    for (const n of [1, 2]) {
      const epochModel = await loadCheckpoint(join(dir, 'epochs', String(n)));
      expect(epochModel.optimizerState).toBeUndefined();
      expect(Object.keys(epochModel.config.files).sort()).toEqual([
        'model.safetensors',
        'training-state.json',
      ]);
      expect(epochModel.trainingState).toMatchObject({ step: 3 * n, epoch: n });
      expect(epochModel.config.training).toMatchObject({ epochs: 2 });
      const restored = await restoreModel(join(dir, 'epochs', String(n)), createTinyFlow);
      expect(values(restored.model)).toEqual(atEpochEnd[n - 1]);
      restored.model.dispose();
      epochModel.dispose();
    }
    expect(atEpochEnd[0]).not.toEqual(atEpochEnd[1]);
    model.dispose();
  });

  it('rejects bad options and batches that do not fit the model, naming the batch', async () => {
    const model = await initialisedModel();
    expect(() => new Trainer(model, { epochs: -1 })).toThrow(ConfigError);
    expect(() => new Trainer(model, { epochs: 1, minFiniteFraction: 1 })).toThrow(
      /minFiniteFraction/,
    );
    expect(
      () => new Trainer(model, { epochs: 1, fineTune: { extraLosses: [], frozenModel: model } }),
    ).toThrow(/shares variables/);
    const trainer = new Trainer(model, { epochs: 1, evaluateAtStart: false });
    await expect(
      trainer.fit(function* () {
        yield { x: new Float32Array(4 * 4 * 4 * 2), shape: [4, 4, 4, 2] as const };
      }),
    ).rejects.toThrow(/batch 0 of epoch 0: images of 4x4x2 = 32 dimensions, but the model has 12/);
    await expect(
      new Trainer(model, { epochs: 1, evaluateAtStart: false }).fit(function* () {
        yield { x: new Float32Array(5), shape: [1, 2, 3, 2] as const };
      }),
    ).rejects.toThrow(/5 values for NHWC shape/);
    model.dispose();
  });
});
