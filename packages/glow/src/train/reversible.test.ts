/**
 * Reversible backprop (`memory: 'reversible'`) against autodiff, the reference: the same
 * gradients for every model kind and loss the trainer supports, before and after training, and
 * activation memory that does not grow with the number of flow steps.
 */
import { selectBackend } from '@hierglow/backend-wasm';
import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { toClassConditional } from '../model/class-conditional-convert.js';
import type { ModelConfigInput } from '../model/config.js';
import { createModel } from '../model/create-model.js';
import type { Glow } from '../model/glow.js';
import { describeOnBackends } from '../model/test-support/fixtures.js';
import type { LogProbOutput, TrainableModel } from '../state/trainable-model.js';
import type { DataStream, TrainingBatch } from './data.js';
import { initializeFromData } from './evaluation.js';
import { type FineTuneOptions, Trainer, type TrainerOptions } from './trainer.js';

/** Dequantised pixels `v/256 − 0.5 + u` (spec 2.1), deterministic in (seed, epoch, batch). */
function pixels(batches: number, size: number, shape: readonly number[], labels = 0): DataStream {
  return function* ({ seed, epoch }) {
    for (let b = 0; b < batches; b++)
      yield pixelBatch(seed + epoch * 1000 + b, size, shape, labels);
  };
}

function pixelBatch(
  seed: number,
  size: number,
  shape: readonly number[],
  labels = 0,
): TrainingBatch {
  const rng = createRng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const x = new Float32Array(size * n);
  for (let i = 0; i < x.length; i++) {
    x[i] = Math.floor(rng.uniform() * 256) / 256 - 0.5 + rng.uniform() / 256;
  }
  const batch: TrainingBatch = { x, shape: [size, ...shape] as [number, number, number, number] };
  if (labels > 0) batch.labels = Int32Array.from({ length: size }, () => rng.int(labels));
  return batch;
}

async function initialised(config: ModelConfigInput) {
  const model = createModel(config);
  const shape = [config.height, config.width, config.channels] as const;
  await initializeFromData(model, pixels(1, 8, shape)({ seed: 1, epoch: 0 }), 8);
  return model;
}

/** Per variable: max |reversible − autodiff| / max |autodiff|; the worst one and its name. */
function worstRelativeError(
  reversible: Record<string, tf.Tensor>,
  autodiff: Record<string, tf.Tensor>,
): { error: number; name: string } {
  expect(Object.keys(reversible).sort()).toEqual(Object.keys(autodiff).sort());
  let worst = { error: 0, name: '' };
  for (const [name, g] of Object.entries(autodiff)) {
    const error = tf.tidy(() => {
      const scale = tf.max(tf.abs(g)).dataSync()[0]!;
      const diff = tf.max(tf.abs(tf.sub(reversible[name]!, g))).dataSync()[0]!;
      // An all-zero gradient (a zero-initialised layer behind another) must stay zero.
      return scale === 0 ? diff : diff / scale;
    });
    if (error > worst.error) worst = { error, name };
  }
  return worst;
}

/** Gradients of both modes on the same batches; disposes them and returns the worst error. */
function compareModes(
  model: TrainableModel,
  options: Partial<TrainerOptions>,
  batch: () => TrainingBatch,
  auxiliary: (() => TrainingBatch) | null = null,
) {
  const run = (memory: 'autodiff' | 'reversible') =>
    new Trainer(model, { epochs: 1, memory, ...options }).gradients(batch(), auxiliary?.() ?? null);
  const autodiff = run('autodiff');
  const reversible = run('reversible');
  const worst = worstRelativeError(reversible.grads, autodiff.grads);
  const lossError = Math.abs(reversible.loss - autodiff.loss) / Math.abs(autodiff.loss);
  tf.dispose([...Object.values(autodiff.grads), ...Object.values(reversible.grads)]);
  return { ...worst, lossError, variables: Object.keys(autodiff.grads).length };
}

const TINY = { height: 8, width: 8, channels: 1, levels: 2, stepsPerLevel: 2, hidden: 8 } as const;
/** The medium benchmark's graph (32x32, L 3, K 16) with narrower coupling nets. */
const MEDIUM_LIKE = {
  kind: 'glow',
  height: 32,
  width: 32,
  channels: 1,
  levels: 3,
  stepsPerLevel: 16,
  hidden: 16,
} as const;

/** Relative error allowed per variable (issue 17), on both backends. */
const TOLERANCE = 1e-4;

describeOnBackends('reversible gradients equal autodiff', (backend) => {
  const tolerance = TOLERANCE;
  const report = (what: string, r: { error: number; name: string; lossError: number }) => {
    console.log(
      `[${backend}] ${what}: worst per-variable relative error ${r.error.toExponential(2)} (${r.name}), loss ${r.lossError.toExponential(2)}`,
    );
  };

  for (const variant of [
    { kind: 'glow', prior: 'per-dimension' },
    { kind: 'glow', prior: 'conditional' },
    { kind: 'glow', prior: 'per-dimension', coupling: 'additive', permutation: 'shuffle' },
    { kind: 'patch-glow', steps: 2, patchSize: 4 },
    { kind: 'dense-glow', stepsPerLevel: 2 },
  ] as const) {
    it(`tiny ${JSON.stringify(variant)}, after 6 autodiff steps moved the weights`, async () => {
      const config = { ...TINY, ...variant } as ModelConfigInput;
      if (variant.kind === 'patch-glow') delete (config as { levels?: number }).levels;
      if (variant.kind === 'patch-glow')
        delete (config as { stepsPerLevel?: number }).stepsPerLevel;
      const model = await initialised(config);
      const shape = [8, 8, 1];
      const atInit = compareModes(model, {}, () => pixelBatch(5, 4, shape));
      expect(atInit.error).toBeLessThan(tolerance);
      await new Trainer(model, {
        epochs: 1,
        evaluateAtStart: false,
        optimizer: { learningRate: 3e-3 },
      }).fit(pixels(6, 4, shape));
      const trained = compareModes(model, {}, () => pixelBatch(7, 4, shape));
      report(`tiny ${variant.kind}/${(variant as { prior?: string }).prior ?? ''}`, trained);
      expect(trained.error).toBeLessThan(tolerance);
      expect(trained.lossError).toBeLessThan(1e-5);
      model.dispose();
    });
  }

  it('supervised variant: class-conditional heads, true-class NLL, wrong-class and outlier terms', async () => {
    const base = (await initialised({ kind: 'glow', ...TINY })) as Glow;
    const general = await initialised({ kind: 'glow', ...TINY, seed: 9 });
    const model = toClassConditional(base, 3);
    // Move the heads (zero at conversion) and the flow away from their starting points.
    await new Trainer(model, {
      epochs: 1,
      evaluateAtStart: false,
      optimizer: { learningRate: 3e-3 },
    }).fit(pixels(4, 4, [8, 8, 1], 3));
    const softplusMean = (a: tf.Tensor, b: tf.Tensor) =>
      tf.mean(tf.softplus(tf.sub(a, b))) as tf.Scalar;
    const fineTune: FineTuneOptions = {
      frozenModel: general,
      frozenOnTrainingBatch: true,
      inlierLogP: (output: LogProbOutput, labels) => {
        const oneHot = tf.cast(tf.oneHot(tf.cast(labels!, 'int32') as tf.Tensor1D, 3), 'bool');
        const perClass = output.logPPerClass!;
        return tf.sum(tf.where(oneHot, perClass, tf.zerosLike(perClass)), 1) as tf.Tensor1D;
      },
      extraLosses: [
        {
          name: 'wrong-class',
          compute: (ctx) =>
            softplusMean(
              tf.div(ctx.output.logPPerClass!, 50),
              tf.div(tf.expandDims(ctx.frozen!.logP, 1), 50),
            ),
        },
        {
          name: 'outlier',
          compute: (ctx) =>
            softplusMean(
              tf.div(ctx.auxiliary!.logProb().logP, 50),
              tf.div(ctx.auxiliary!.frozen!.logP, 50),
            ),
        },
      ],
    };
    const result = compareModes(
      model,
      { fineTune },
      () => pixelBatch(11, 4, [8, 8, 1], 3),
      () => pixelBatch(12, 4, [8, 8, 1]),
    );
    report('supervised with outlier loss', result);
    expect(result.variables).toBe(
      Object.values(model.variables()).filter((v) => v.trainable).length,
    );
    expect(result.error).toBeLessThan(tolerance);
    model.dispose();
    general.dispose();
  });

  it('medium-like graph (32x32, L 3, K 16, hidden 16) after 3 autodiff steps', async () => {
    const model = await initialised(MEDIUM_LIKE);
    const shape = [32, 32, 1];
    await new Trainer(model, {
      epochs: 1,
      evaluateAtStart: false,
      optimizer: { learningRate: 2e-3 },
    }).fit(pixels(3, 2, shape));
    const result = compareModes(model, {}, () => pixelBatch(21, 2, shape));
    report('medium-like', result);
    expect(result.error).toBeLessThan(tolerance);
    model.dispose();
  }, 120_000);
});

describe('reversible training', () => {
  it('refuses a model without reversibleForward, and a bad memory mode', async () => {
    await selectBackend('cpu');
    const model = await initialised({ kind: 'glow', ...TINY });
    const bare: TrainableModel = {
      logProb: (x) => model.logProb(x),
      numDims: model.numDims,
      variables: () => model.variables(),
      trainableVariables: () => model.trainableVariables(),
      getConfig: () => model.getConfig(),
      dispose: () => {},
    };
    expect(() => new Trainer(bare, { epochs: 1, memory: 'reversible' })).toThrow(
      /reversibleForward/,
    );
    expect(() => new Trainer(model, { epochs: 1, memory: 'checkpointed' as 'reversible' })).toThrow(
      /'memory' must be one of autodiff, reversible/,
    );
    model.dispose();
  });

  it('trains the same run as autodiff, and leaks no tensors', async () => {
    await selectBackend('cpu');
    const losses: Record<string, number[]> = {};
    for (const memory of ['autodiff', 'reversible'] as const) {
      const model = await initialised({ kind: 'glow', ...TINY });
      const before = tf.memory().numTensors;
      losses[memory] = [];
      await new Trainer(model, {
        epochs: 2,
        memory,
        evaluateAtStart: false,
        onEvent: (e) => {
          if (e.type === 'step') losses[memory]!.push(e.loss);
        },
      }).fit(pixels(4, 4, [8, 8, 1]));
      // The optimizer's moment estimates are the only new tensors.
      expect(tf.memory().numTensors - before).toBe(2 * model.trainableVariables().length);
      model.dispose();
    }
    expect(losses.reversible!.length).toBe(8);
    losses.reversible!.forEach((loss, i) => {
      expect(Math.abs(loss - losses.autodiff![i]!) / Math.abs(losses.autodiff![i]!)).toBeLessThan(
        1e-4,
      );
    });
  });
});

describe('reversible memory', () => {
  /**
   * Bytes a gradient computation holds at its peak beyond what it starts with and what it
   * returns (one gradient per variable): the activations. Peak from `tf.profile`, which samples
   * the live bytes after every kernel.
   */
  async function activationBytes(stepsPerLevel: number, memory: 'autodiff' | 'reversible') {
    const shape = [16, 16, 1];
    const model = await initialised({
      kind: 'glow',
      height: 16,
      width: 16,
      channels: 1,
      levels: 2,
      stepsPerLevel,
      hidden: 8,
    });
    const trainer = new Trainer(model, { epochs: 1, memory });
    // A first call warms up anything cached (kernels, constants), outside the measurement.
    tf.dispose(Object.values(trainer.gradients(pixelBatch(3, 16, shape)).grads));
    const start = tf.memory().numBytes;
    let gradientBytes = 0;
    const profile = await tf.profile(() => {
      const { grads } = trainer.gradients(pixelBatch(4, 16, shape));
      gradientBytes = Object.values(grads).reduce((sum, g) => sum + 4 * g.size, 0);
      tf.dispose(Object.values(grads));
    });
    model.dispose();
    return profile.peakBytes - start - gradientBytes;
  }

  it('does not grow with the number of flow steps (K 2 vs K 8), unlike autodiff', async () => {
    await selectBackend('cpu');
    const reversible = [
      await activationBytes(2, 'reversible'),
      await activationBytes(8, 'reversible'),
    ];
    const autodiff = [await activationBytes(2, 'autodiff'), await activationBytes(8, 'autodiff')];
    console.log(
      `activation bytes at the peak, K 2 → K 8: reversible ${reversible.join(' → ')}, autodiff ${autodiff.join(' → ')}`,
    );
    // The measure sees depth: autodiff's activations grow about linearly in K.
    expect(autodiff[1]! / autodiff[0]!).toBeGreaterThan(2.5);
    // Reversible: flat, within the small per-step tensors (log-dets, LU factors).
    expect(reversible[1]! / reversible[0]!).toBeLessThan(1.2);
    expect(reversible[1]!).toBeLessThan(autodiff[1]! / 3);
  }, 120_000);
});

describe('recompute error over training', () => {
  it('stays at float32 rounding while training moves the weights', async () => {
    await selectBackend('cpu');
    const shape = [16, 16, 1];
    const model = await initialised({
      kind: 'glow',
      height: 16,
      width: 16,
      channels: 1,
      levels: 2,
      stepsPerLevel: 4,
      hidden: 16,
    });
    const probe = tf.tensor4d(pixelBatch(99, 4, shape).x as Float32Array, [4, 16, 16, 1]);
    const rows: string[] = [];
    const measure = (step: number) => {
      const roundTrip = tf.tidy(
        () => tf.max(tf.abs(tf.sub(model.decode(model.encode(probe)), probe))).dataSync()[0]!,
      );
      const grads = compareModes(model, {}, () => pixelBatch(98, 4, shape));
      rows.push(
        `step ${step}: inverse round trip max |x − f⁻¹(f(x))| ${roundTrip.toExponential(2)}, ` +
          `gradient worst relative error ${grads.error.toExponential(2)} (${grads.name})`,
      );
      return { roundTrip, gradient: grads.error };
    };
    const errors = [measure(0)];
    for (let round = 1; round <= 3; round++) {
      await new Trainer(model, {
        epochs: 1,
        seed: round,
        evaluateAtStart: false,
        optimizer: { learningRate: 5e-3 },
      }).fit(pixels(10, 8, shape));
      errors.push(measure(round * 10));
    }
    console.log(
      `recompute error over training (16x16, L 2, K 4, hidden 16, lr 5e-3):\n${rows.join('\n')}`,
    );
    for (const e of errors) {
      expect(e.roundTrip).toBeLessThan(1e-4);
      expect(e.gradient).toBeLessThan(1e-4);
    }
    probe.dispose();
    model.dispose();
  }, 120_000);
});
