/**
 * The trainer and checkpoints on this package's real models (tiny configs), on the cpu backend
 * where results are bit-reproducible.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '@hierglow/backend-wasm';
import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModelWeights } from '../checkpoint/checkpoint.js';
import {
  loadCheckpoint,
  restoreModel,
  saveCheckpoint,
} from '../checkpoint/checkpoint-directory.js';
import { CheckpointMismatchError } from '../checkpoint/errors.js';
import { toClassConditional } from '../model/class-conditional-convert.js';
import { predictedClasses } from '../model/classification.js';
import { createModel } from '../model/create-model.js';
import type { Glow } from '../model/glow.js';
import type { DataStream, TrainingBatch } from './data.js';
import { initializeFromData, meanBitsPerDim } from './evaluation.js';
import { Trainer, type TrainerEvent } from './trainer.js';

let root: string;
beforeAll(async () => {
  await selectBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'hierglow-glow-train-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const TINY = {
  kind: 'glow',
  height: 8,
  width: 8,
  channels: 1,
  levels: 2,
  stepsPerLevel: 2,
  hidden: 8,
} as const;

/** Dequantised pixels `v/256 − 0.5 + u` (spec 2.1), deterministic in (seed, epoch, batch). */
function pixels(batches: number, size: number): DataStream {
  return function* ({ seed, epoch }) {
    for (let b = 0; b < batches; b++) {
      const rng = createRng(seed + epoch * 1000 + b);
      const x = new Float32Array(size * 64);
      for (let i = 0; i < x.length; i++)
        x[i] = Math.floor(rng.uniform() * 256) / 256 - 0.5 + rng.uniform() / 256;
      yield { x, shape: [size, 8, 8, 1] as const };
    }
  };
}

async function initialisedGlow() {
  const model = createModel(TINY);
  await initializeFromData(model, pixels(2, 8)({ seed: 1, epoch: 0 }), 16);
  return model;
}

function outputs(model: ReturnType<typeof createModel>, x: tf.Tensor4D) {
  return tf.tidy(() => {
    const r = model.logProb(x);
    return {
      logP: Array.from(r.logP.dataSync()),
      perScale: r.perScale.map((t) => Array.from(t.dataSync())),
    };
  });
}

describe('training and checkpoints with the real Glow', () => {
  it('reproduces logP exactly after a save and load on the wasm backend too', async () => {
    await selectBackend('wasm');
    try {
      const model = await initialisedGlow();
      await new Trainer(model, { epochs: 1, evaluateAtStart: false }).fit(pixels(2, 4));
      const dir = join(root, 'glow-wasm');
      await saveCheckpoint(dir, { model });
      const restored = await restoreModel(dir, createModel);
      const ckpt = await loadCheckpoint(dir);
      expect(ckpt.config.backend).toBe('wasm');
      ckpt.dispose();
      const x = tf.tensor4d(
        [...(pixels(1, 3)({ seed: 8, epoch: 0 }) as Iterable<TrainingBatch>)][0]!.x as Float32Array,
        [3, 8, 8, 1],
      );
      expect(outputs(restored.model, x)).toEqual(outputs(model, x));
      x.dispose();
      model.dispose();
      restored.model.dispose();
    } finally {
      await selectBackend('cpu');
    }
  });

  it('saves, restores through createModel and reproduces logP and every perScale term exactly', async () => {
    const model = await initialisedGlow();
    const trainer = new Trainer(model, {
      epochs: 1,
      evaluateAtStart: false,
      optimizer: { learningRate: 1e-3 },
    });
    await trainer.fit(pixels(3, 4));
    const dir = join(root, 'glow');
    await saveCheckpoint(dir, {
      model,
      optimizer: trainer.optimizer,
      trainingState: trainer.state,
    });
    const restored = await restoreModel(dir, createModel);
    expect(restored.model.getConfig()).toEqual(model.getConfig());
    const x = tf.tensor4d(
      [...(pixels(1, 5)({ seed: 42, epoch: 0 }) as Iterable<TrainingBatch>)][0]!.x as Float32Array,
      [5, 8, 8, 1],
    );
    expect(outputs(restored.model, x)).toEqual(outputs(model, x));
    expect(restored.optimizerState!.iterations).toBe(3);
    tf.dispose([
      ...Object.values(restored.optimizerState!.expAvg),
      ...Object.values(restored.optimizerState!.expInf),
    ]);

    // Another kind or another architecture is refused, naming the file.
    const ckpt = await loadCheckpoint(dir);
    const patch = createModel({
      kind: 'patch-glow',
      height: 8,
      width: 8,
      channels: 1,
      patchSize: 4,
      steps: 1,
      hidden: 4,
    });
    expect(() => loadModelWeights(patch, ckpt)).toThrow(/holds a 'glow' model, not a 'patch-glow'/);
    const deeper = createModel({ ...TINY, stepsPerLevel: 3 });
    expect(() => loadModelWeights(deeper, ckpt)).toThrow(CheckpointMismatchError);
    const wider = createModel({ ...TINY, hidden: 16 });
    expect(() => loadModelWeights(wider, ckpt)).toThrow(
      /model\.safetensors: tensor '.*' has shape/,
    );
    for (const m of [patch, deeper, wider, restored.model, model]) m.dispose();
    ckpt.dispose();
    x.dispose();
  });

  it('keeps tf.memory().numTensors flat over 120 Glow training steps', async () => {
    const model = await initialisedGlow();
    const counts: number[] = [];
    await new Trainer(model, {
      epochs: 30,
      evaluateAtStart: false,
      onEvent: (e) => {
        if (e.type === 'step') counts.push(tf.memory().numTensors);
      },
    }).fit(pixels(4, 2));
    expect(counts).toHaveLength(120);
    expect(Math.max(...counts.slice(1))).toBe(counts[1]);
    expect(counts[119]).toBe(counts[1]);
    model.dispose();
  });

  it('resumes a Glow run with exactly the same losses', async () => {
    const data = pixels(4, 4);
    const losses = (events: TrainerEvent[]) =>
      events.flatMap((e) => (e.type === 'step' ? [e.loss] : []));
    const straightEvents: TrainerEvent[] = [];
    const straight = await initialisedGlow();
    await new Trainer(straight, {
      epochs: 2,
      evaluateAtStart: false,
      onEvent: (e) => straightEvents.push(e),
    }).fit(data);

    const dir = join(root, 'glow-resume');
    const controller = new AbortController();
    const firstEvents: TrainerEvent[] = [];
    const first = await initialisedGlow();
    await new Trainer(first, {
      epochs: 2,
      evaluateAtStart: false,
      signal: controller.signal,
      checkpoint: { dir },
      onEvent: (e) => {
        firstEvents.push(e);
        if (e.type === 'step' && e.step === 5) controller.abort();
      },
    }).fit(data);
    first.dispose();

    const restored = await restoreModel(dir, createModel);
    const secondEvents: TrainerEvent[] = [];
    const resumed = new Trainer(restored.model, {
      epochs: 2,
      evaluateAtStart: false,
      onEvent: (e) => secondEvents.push(e),
    });
    resumed.restore(restored);
    tf.dispose([
      ...Object.values(restored.optimizerState!.expAvg),
      ...Object.values(restored.optimizerState!.expInf),
    ]);
    await resumed.fit(data);
    expect([...losses(firstEvents), ...losses(secondEvents)]).toEqual(losses(straightEvents));
    expect(losses(straightEvents)).toHaveLength(8);
    straight.dispose();
    restored.model.dispose();
  });

  it('trains a class-conditional Glow on the true-class NLL (inlierLogP); extra losses see logPPerClass', async () => {
    const general = await initialisedGlow();
    const model = toClassConditional(general as Glow, 3);
    general.dispose();
    // Distinct class means, so the true class's NLL differs from the mixture's.
    for (const [name, v] of Object.entries(model.variables())) {
      if (!name.endsWith('classHead.gaussian.mean')) continue;
      const [C, D] = v.shape as [number, number];
      tf.tidy(() => v.assign(tf.mul(tf.reshape(tf.range(0, C), [C, 1]), tf.fill([C, D], 0.3))));
    }
    const batch = pixels(1, 4)({ seed: 5, epoch: 0 }) as Iterable<TrainingBatch>;
    const [first] = [...batch];
    const labels = [0, 2, 1, 2];
    const x = tf.tensor4d(first!.x as Float32Array, [4, 8, 8, 1]);
    const D = model.numDims;
    const [trueClassNll, mixtureNll] = tf.tidy(() => {
      const perClass = model.logProbPerClass(x).arraySync();
      const mixture = Array.from(model.logProb(x).logP.dataSync());
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      return [
        mean(perClass.map((row, b) => D * Math.log(256) - row[labels[b]!]!)),
        mean(mixture.map((v) => D * Math.log(256) - v)),
      ];
    });
    x.dispose();
    expect(Math.abs(trueClassNll! - mixtureNll!)).toBeGreaterThan(1);
    const seen: number[][] = [];
    const trainer = new Trainer(model, {
      epochs: 1,
      evaluateAtStart: false,
      fineTune: {
        inlierLogP: (output, y) =>
          tf.sum(tf.mul(output.logPPerClass!, tf.oneHot(tf.cast(y!, 'int32'), 3)), 1),
        extraLosses: [
          {
            name: 'probe',
            compute: (ctx) => {
              seen.push(ctx.output.logPPerClass!.shape);
              return tf.scalar(0);
            },
          },
        ],
      },
    });
    const before = Array.from(model.variables()['levels.1.classHead.gaussian.mean']!.dataSync());
    const report = trainer.trainStep({ ...first!, labels: Int32Array.from(labels) });
    expect(Math.abs(report.nll - trueClassNll!)).toBeLessThan(1e-3 * Math.abs(trueClassNll!));
    expect(seen).toEqual([[4, 3]]);
    const after = Array.from(model.variables()['levels.1.classHead.gaussian.mean']!.dataSync());
    expect(after).not.toEqual(before);
    model.dispose();
  });

  it('meanBitsPerDim gives a class-conditional model its accuracy on labelled batches', async () => {
    const general = await initialisedGlow();
    const model = toClassConditional(general as Glow, 3);
    for (const [name, v] of Object.entries(model.variables())) {
      if (!name.endsWith('classHead.gaussian.mean')) continue;
      const [C, D] = v.shape as [number, number];
      tf.tidy(() => v.assign(tf.mul(tf.reshape(tf.range(0, C), [C, 1]), tf.fill([C, D], 0.3))));
    }
    const [first] = [...(pixels(1, 6)({ seed: 9, epoch: 0 }) as Iterable<TrainingBatch>)];
    const x = tf.tensor4d(first!.x as Float32Array, [6, 8, 8, 1]);
    const perClass = model.logProbPerClass(x);
    const predicted = await predictedClasses(perClass);
    tf.dispose([x, perClass]);
    // Every other label wrong in the first batch; every label right in the second (as a tensor).
    const halfRight = Int32Array.from(predicted, (c, i) => (i % 2 === 0 ? c : (c + 1) % 3));
    const allRight = tf.tensor1d(Array.from(predicted), 'int32');
    const summary = await meanBitsPerDim(model, [
      { ...first!, labels: halfRight },
      { ...first!, labels: allRight },
    ]);
    expect(summary.classification).toEqual({ accuracy: 9 / 12, labelled: 12 });
    const unlabelled = await meanBitsPerDim(model, [first!]);
    expect(unlabelled.classification).toBeUndefined();
    expect(summary.meanBitsPerDim).toBeCloseTo(unlabelled.meanBitsPerDim, 10);
    // An unconditional model has no accuracy, labels or not.
    const plain = await meanBitsPerDim(general, [{ ...first!, labels: halfRight }]);
    expect(plain.classification).toBeUndefined();
    allRight.dispose();
    general.dispose();
    model.dispose();
  });
});
