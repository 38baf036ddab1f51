import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@hierglow/flow-layers';
import { checkNoTensorLeak, perturbVariables } from '@hierglow/flow-layers/testing';
import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { restoreModel, saveCheckpoint } from '../checkpoint/checkpoint-directory.js';
import { CheckpointMismatchError } from '../checkpoint/errors.js';
import { restoreClassConditional } from '../checkpoint/restore-class-conditional.js';
import { toClassConditional } from './class-conditional-convert.js';
import { ClassConditionalGlow } from './class-conditional-glow.js';
import { classificationAccuracy, predictedClasses } from './classification.js';
import { createModel } from './create-model.js';
import { flattenNchw } from './flatten-nchw.js';
import { DenseGlow, Glow } from './glow.js';
import { modelAsBijector } from './model-bijector.js';
import { describeOnBackends, noisyPixels, TINY_GLOW, values } from './test-support/fixtures.js';

const CLASSES = 3;
const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

const owned: { dispose(): void }[] = [];
function own<T extends { dispose(): void }>(value: T): T {
  owned.push(value);
  return value;
}
afterEach(() => {
  for (const o of owned.splice(0)) o.dispose();
});

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hierglow-class-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A data-initialised, perturbed tiny unsupervised Glow and its batch. */
function trainedLikeGlow(seed = 1): { glow: Glow; x: tf.Tensor4D } {
  const glow = own(new Glow(TINY_GLOW));
  const x = own(noisyPixels(5, [8, 8, 1], seed));
  glow.initialize(x);
  perturbVariables(modelAsBijector(glow), seed + 7, 0.05);
  return { glow, x };
}

/** Sets every class-head variable to seeded values of a realistic size. */
function randomiseHeads(model: ClassConditionalGlow, seed: number): void {
  const rng = createRng(seed);
  for (const [name, v] of Object.entries(model.variables())) {
    if (!name.includes('.classHead.')) continue;
    const spread = name.endsWith('mean') || name.endsWith('loc') ? 0.6 : 0.25;
    const data = Float32Array.from({ length: v.size }, () => spread * rng.normal());
    tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
  }
}

/** A class-conditional tiny Glow converted from a trained-like Glow, heads randomised. */
function supervisedModel(seed = 1): { model: ClassConditionalGlow; glow: Glow; x: tf.Tensor4D } {
  const { glow, x } = trainedLikeGlow(seed);
  const model = own(toClassConditional(glow, CLASSES));
  randomiseHeads(model, seed + 100);
  return { model, glow, x };
}

const logSumExp64 = (a: number[]) => {
  const m = Math.max(...a);
  return m + Math.log(a.reduce((s, v) => s + Math.exp(v - m), 0));
};

/** Everything a hand computation needs: per scale F_k + A_k and the flattened u_k, in float64. */
function handInputs(model: ClassConditionalGlow, x: tf.Tensor4D) {
  const terms = model.forwardScales(x);
  const logDets = terms.flowLogDets.map((f, k) => {
    const a = values(terms.priorLogDets[k]!);
    return values(f).map((v, b) => v + a[b]!);
  });
  const latents = terms.latents.map((u) => {
    const flat = flattenNchw(u);
    const rows = flat.arraySync() as number[][];
    flat.dispose();
    return rows;
  });
  tf.dispose([...terms.latents, ...terms.flowLogDets, ...terms.priorLogDets]);
  const vars = model.variables();
  const head = (k: number, name: string) =>
    vars[`levels.${k}.classHead.${name}`]!.arraySync() as number[][];
  return { logDets, latents, head };
}

/** H_kc(u) of spec 6.4 in float64, straight from the definition. */
function headLogProb64(
  u: number[],
  loc: number[],
  logs: number[],
  mean: number[],
  logStd: number[],
): number {
  let sum = 0;
  u.forEach((ud, d) => {
    const scale = Math.exp(logs[d]!) + 1e-8;
    const v = scale * (ud + loc[d]!);
    const r = (v - mean[d]!) / Math.exp(logStd[d]!);
    sum += Math.log(scale) - logStd[d]! - 0.5 * r * r - HALF_LOG_2PI;
  });
  return sum;
}

/** H[k][b][c] for the model's current weights. */
function headTerms64(model: ClassConditionalGlow, x: tf.Tensor4D) {
  const { logDets, latents, head } = handInputs(model, x);
  const H = latents.map((rows, k) => {
    const [loc, logs, mean, logStd] = [
      'actnorm.loc',
      'actnorm.logs',
      'gaussian.mean',
      'gaussian.logs',
    ].map((n) => head(k, n));
    return rows.map((u) =>
      Array.from({ length: CLASSES }, (_, c) =>
        headLogProb64(u, loc![c]!, logs![c]!, mean![c]!, logStd![c]!),
      ),
    );
  });
  return { logDets, H };
}

/**
 * |actual − expected| < rel · scale, with scale the magnitude of `expected` or, for a result that
 * is a near-cancelling difference of larger terms, of the largest such term (float32 rounding is
 * relative to the terms, not to their difference).
 */
function expectClose(
  actual: number,
  expected: number,
  what: string,
  rel = 2e-5,
  terms: readonly number[] = [],
): void {
  const scale = Math.max(1, Math.abs(expected), ...terms.map(Math.abs));
  expect(Math.abs(actual - expected), what).toBeLessThan(rel * scale);
}

describeOnBackends('ClassConditionalGlow densities (spec 6.4)', () => {
  it('log p(x|c) = Σ_k (F_k + A_k + H_kc), H from the definition in float64', () => {
    const { model, x } = supervisedModel();
    const { logDets, H } = headTerms64(model, x);
    const perClass = tf.tidy(() => model.logProbPerClass(x).arraySync());
    expect(perClass).toHaveLength(5);
    perClass.forEach((row, b) => {
      expect(row).toHaveLength(CLASSES);
      row.forEach((v, c) => {
        const hand = logDets.reduce((s, d, k) => s + d[b]! + H[k]![b]![c]!, 0);
        expectClose(v, hand, `image ${b}, class ${c}`);
      });
    });
    // The heads were randomised: classes really differ (else this test could not fail).
    const spread = Math.max(...perClass[0]!) - Math.min(...perClass[0]!);
    expect(spread).toBeGreaterThan(1);
  });

  it('logP = logsumexp_c log p(x|c) − log C, and logProb.logPPerClass = logProbPerClass', () => {
    const { model, x } = supervisedModel(2);
    tf.tidy(() => {
      const out = model.logProb(x);
      const perClass = out.logPPerClass.arraySync();
      const direct = model.logProbPerClass(x).arraySync();
      const logP = values(out.logP);
      perClass.forEach((row, b) => {
        row.forEach((v, c) => {
          expectClose(v, direct[b]![c]!, 'same per-class values', 1e-6);
        });
        expectClose(logP[b]!, logSumExp64(row) - Math.log(CLASSES), `mixture of image ${b}`);
      });
      const d = model.numDims;
      values(out.bitsPerDim).forEach((v, b) => {
        expectClose(v, (-logP[b]! + d * Math.log(256)) / (d * Math.LN2), 'bits/dim');
      });
    });
  });

  it('perScale is the chain rule of the mixture (sums to logP); perScaleMarginal the per-scale mixtures', () => {
    const { model, x } = supervisedModel(3);
    const { logDets, H } = headTerms64(model, x);
    const L = H.length;
    tf.tidy(() => {
      const out = model.logProb(x);
      const terms = model.logProbTerms(x);
      const perScale = out.perScale.map(values);
      const marginal = out.perScaleMarginal.map(values);
      const base = terms.baseLogProbs.map(values);
      const logP = values(out.logP);
      for (let b = 0; b < 5; b++) {
        // m_k = log of the mixture's density of u_k..u_{L-1}, from per-class tails.
        const m = Array.from({ length: L }, (_, k) => {
          const tails = Array.from({ length: CLASSES }, (_, c) =>
            H.slice(k).reduce((s, Hk) => s + Hk[b]![c]!, 0),
          );
          return logSumExp64(tails) - Math.log(CLASSES);
        });
        let sum = 0;
        for (let k = 0; k < L; k++) {
          const increment = k === L - 1 ? m[k]! : m[k]! - m[k + 1]!;
          // The increment m_k − m_{k+1} is a difference of two log-sum-exps.
          const parts = [logDets[k]![b]!, m[k]!, m[k + 1] ?? 0];
          expectClose(
            perScale[k]![b]!,
            logDets[k]![b]! + increment,
            `perScale[${k}] image ${b}`,
            2e-5,
            parts,
          );
          expectClose(base[k]![b]!, increment, `baseLogProbs[${k}] image ${b}`, 2e-5, parts);
          const mixture = logSumExp64(H[k]![b]!) - Math.log(CLASSES);
          expectClose(marginal[k]![b]!, logDets[k]![b]! + mixture, `marginal[${k}] image ${b}`);
          sum += perScale[k]![b]!;
        }
        expectClose(sum, logP[b]!, `Σ perScale = logP, image ${b}`);
        // The last scale has no coarser scale to condition on: both definitions agree...
        expectClose(marginal[L - 1]![b]!, perScale[L - 1]![b]!, 'last scale');
        // ...while the finer per-scale mixtures do not add up to the mixture of the whole.
        const marginalSum = marginal.reduce((s, t) => s + t[b]!, 0);
        expect(Math.abs(marginalSum - logP[b]!)).toBeGreaterThan(1e-3);
      }
    });
  });

  it('perScale[L−1] is the log-density of the last scale’s input h_{L−1} under the mixture', () => {
    // Marginalising x given h_{L−1}: the last scale alone, with the same class mixture.
    const { model, x } = supervisedModel(4);
    const { logDets, H } = headTerms64(model, x);
    const L = H.length;
    tf.tidy(() => {
      const last = values(model.logProb(x).perScale[L - 1]!);
      last.forEach((v, b) => {
        const hand = logDets[L - 1]![b]! + logSumExp64(H[L - 1]![b]!) - Math.log(CLASSES);
        expectClose(v, hand, `image ${b}`);
      });
    });
  });

  it('gradients reach the flow, the prior ActNorms and the class heads; no tensor leaks', () => {
    const { model, x } = supervisedModel(5);
    const labels = tf.tensor1d([0, 1, 2, 1, 0], 'int32');
    const { value, grads } = tf.variableGrads(
      () =>
        tf.neg(
          tf.mean(tf.sum(tf.mul(model.logProbPerClass(x), tf.oneHot(labels, CLASSES)), 1)),
        ) as tf.Scalar,
    );
    const byName = new Map(Object.entries(model.variables()).map(([n, v]) => [v.name, n]));
    const norms = Object.fromEntries(
      Object.entries(grads).map(([k, g]) => [
        byName.get(k)!,
        tf.tidy(() => tf.norm(g).dataSync()[0]!),
      ]),
    );
    for (const name of [
      'levels.0.classHead.gaussian.mean',
      'levels.1.classHead.actnorm.logs',
      'levels.1.prior.logs',
      'levels.0.steps.0.actnorm.loc',
    ]) {
      expect(Number.isFinite(norms[name]), name).toBe(true);
      expect(norms[name], name).toBeGreaterThan(0);
    }
    tf.dispose([value, labels, ...Object.values(grads)]);
    checkNoTensorLeak(() => tf.dispose(model.logProb(x) as unknown as tf.TensorContainer), {
      label: 'logProb',
    });
    checkNoTensorLeak(() => model.logProbPerClass(x).dispose(), { label: 'logProbPerClass' });
    checkNoTensorLeak(() => model.sample(2, { seed: 1 }).dispose(), { label: 'sample' });
  });
});

describe('ClassConditionalGlow conversion, sampling, config and checkpoints', () => {
  beforeAll(async () => {
    const { selectBackend } = await import('@hierglow/backend-wasm');
    await selectBackend('cpu');
  });

  it('toClassConditional keeps the density: every class, the mixture and perScale equal the source', () => {
    const { glow, x } = trainedLikeGlow(6);
    const model = own(toClassConditional(glow, CLASSES));
    expect(model).toBeInstanceOf(ClassConditionalGlow);
    expect(model.getConfig()).toEqual({
      ...glow.getConfig(),
      prior: 'class-conditional',
      numClasses: CLASSES,
    });
    tf.tidy(() => {
      const source = glow.logProb(x);
      const converted = model.logProb(x);
      const lp = values(source.logP);
      values(converted.logP).forEach((v, b) => {
        expectClose(v, lp[b]!, 'mixture', 1e-6);
      });
      converted.logPPerClass.arraySync().forEach((row, b) => {
        for (const v of row) expectClose(v, lp[b]!, 'every class', 1e-6);
      });
      source.perScale.forEach((t, k) => {
        const want = values(t);
        values(converted.perScale[k]!).forEach((v, b) => {
          expectClose(v, want[b]!, 'perScale', 1e-5);
        });
      });
    });
    // The source is untouched and still usable; the copy owns its own variables.
    const sourceVars = new Set(Object.values(glow.variables()));
    expect(Object.values(model.variables()).some((v) => sourceVars.has(v))).toBe(false);
  });

  it('toClassConditional refuses models without the per-dimension prior ActNorms', () => {
    const conditional = own(new Glow({ ...TINY_GLOW, prior: 'conditional' }));
    expect(() => toClassConditional(conditional, 2)).toThrow(/prior 'conditional'/);
    const dense = own(new DenseGlow({ ...TINY_GLOW, hidden: 4 }));
    expect(() => toClassConditional(dense as unknown as Glow, 2)).toThrow(/'dense-glow'/);
    const already = own(new ClassConditionalGlow({ ...TINY_GLOW, numClasses: 2 }));
    expect(() => toClassConditional(already, 2)).toThrow(/already class-conditional/);
    expect(() => toClassConditional(own(new Glow(TINY_GLOW)), 1)).toThrow(/at least 2/);
  });

  it('config: numClasses is required with, and refused without, the class-conditional prior', () => {
    expect(() => createModel({ kind: 'glow', ...TINY_GLOW, prior: 'class-conditional' })).toThrow(
      /needs 'numClasses'/,
    );
    expect(() => createModel({ kind: 'glow', ...TINY_GLOW, numClasses: 3 })).toThrow(
      /only applies to prior 'class-conditional'/,
    );
    expect(() => new Glow({ ...TINY_GLOW, prior: 'class-conditional', numClasses: 3 })).toThrow(
      ConfigError,
    );
    expect(() => createModel({ kind: 'dense-glow', ...TINY_GLOW, numClasses: 3 } as never)).toThrow(
      /unknown field 'numClasses'/,
    );
    const built = own(
      createModel({ kind: 'glow', ...TINY_GLOW, prior: 'class-conditional', numClasses: 4 }),
    );
    expect(built).toBeInstanceOf(ClassConditionalGlow);
    expect((built as ClassConditionalGlow).numClasses).toBe(4);
    const names = Object.keys(built.variables());
    expect(names).toContain('levels.0.classHead.actnorm.loc');
    expect(names).toContain('levels.1.classHead.gaussian.logs');
    // [numClasses, D_k]: scale 0 of a 1x8x8 image factors out 4x4x2 = 32 dims.
    expect(built.variables()['levels.0.classHead.gaussian.mean']!.shape).toEqual([4, 32]);
  });

  it('checkpoint round trip reproduces log p(x|c) exactly; names are the README ones', async () => {
    const { model, x } = supervisedModel(7);
    const dir = join(root, 'supervised');
    await saveCheckpoint(dir, { model });
    const { model: restored } = await restoreModel(dir, createModel);
    own(restored);
    expect(restored).toBeInstanceOf(ClassConditionalGlow);
    expect(Object.keys(restored.variables()).sort()).toEqual(Object.keys(model.variables()).sort());
    const a = tf.tidy(() => model.logProbPerClass(x).arraySync());
    const b = tf.tidy(() => (restored as ClassConditionalGlow).logProbPerClass(x).arraySync());
    expect(b).toEqual(a);
    // A class-conditional checkpoint is not a plain Glow: loading it as one fails loudly.
    const plainFactory = () => new Glow(TINY_GLOW);
    await expect(restoreModel(dir, plainFactory)).rejects.toThrow(CheckpointMismatchError);
  });

  it('restoreClassConditional converts an unsupervised checkpoint in one call', async () => {
    const { glow, x } = trainedLikeGlow(8);
    const dir = join(root, 'general');
    await saveCheckpoint(dir, { model: glow });
    const model = own(await restoreClassConditional(dir, CLASSES));
    expect(model.numClasses).toBe(CLASSES);
    tf.tidy(() => {
      const want = values(glow.logProb(x).logP);
      values(model.logProb(x).logP).forEach((v, b) => {
        expectClose(v, want[b]!, 'logP', 1e-6);
      });
    });
    // Saved as class-conditional, it loads back as it is; a different class count is an error.
    const supervisedDir = join(root, 'converted');
    await saveCheckpoint(supervisedDir, { model });
    own(await restoreClassConditional(supervisedDir, CLASSES));
    await expect(restoreClassConditional(supervisedDir, 5)).rejects.toThrow(/has 3 classes/);
  });

  it('sample draws from the chosen class; classify recovers it at temperature 0', () => {
    const model = own(new ClassConditionalGlow({ ...TINY_GLOW, numClasses: CLASSES }));
    // Far-apart class means: the temperature-0 draw of class c is the mode of class c.
    for (const [name, v] of Object.entries(model.variables())) {
      if (!name.endsWith('classHead.gaussian.mean')) continue;
      const [C, D] = v.shape as [number, number];
      tf.tidy(() => v.assign(tf.mul(tf.reshape(tf.range(0, C), [C, 1]), tf.ones([C, D]))));
    }
    const x = model.sample(3, { temperature: 0, classes: [2, 0, 1] });
    expect(x.shape).toEqual([3, 8, 8, 1]);
    expect(values(x).every(Number.isFinite)).toBe(true);
    const predicted = model.classify(x);
    expect(Array.from(predicted.dataSync())).toEqual([2, 0, 1]);
    tf.dispose([x, predicted]);
    const random = model.sample(4, { seed: 3 });
    const again = model.sample(4, { seed: 3 });
    expect(values(again)).toEqual(values(random));
    tf.dispose([random, again]);
    expect(() => model.sample(2, { classes: [0] })).toThrow(/one per sample/);
    expect(() => model.sample(1, { classes: 3 })).toThrow(/classes 0\.\.2/);
  });

  it('constructing and disposing a class-conditional Glow leaves no tensors behind', () => {
    // A first build warms up backend caches that would otherwise count as new tensors.
    new ClassConditionalGlow({ ...TINY_GLOW, numClasses: 2 }).dispose();
    const before = tf.memory().numTensors;
    new ClassConditionalGlow({ ...TINY_GLOW, numClasses: 2 }).dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('predictedClasses and classificationAccuracy: argmax per row, NaN rows count as wrong', async () => {
    const logP = tf.tensor2d([
      [-3, -1, -2],
      [-1, -1, -5],
      [Number.NaN, 0, 0],
      [-9, -8, -7],
    ]);
    expect(Array.from(await predictedClasses(logP))).toEqual([1, 0, -1, 2]);
    expect(await classificationAccuracy(logP, [1, 0, 2, 2])).toBe(0.75);
    const labels = tf.tensor1d([0, 1, 1, 0], 'int32');
    expect(await classificationAccuracy(logP, labels)).toBe(0);
    await expect(classificationAccuracy(logP, [1, 2])).rejects.toThrow(/2 labels for 4 rows/);
    const wrongRank = tf.zeros([2]);
    await expect(predictedClasses(wrongRank as unknown as tf.Tensor2D)).rejects.toThrow(
      /\[batch, classes\]/,
    );
    tf.dispose([logP, labels, wrongRank]);
  });
});
