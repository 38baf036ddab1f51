import { readFileSync } from 'node:fs';
import { selectBackend } from '@hierglow/backend-wasm';
import { ConfigError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADAMAX_DEFAULTS, Adamax } from './adamax.js';
import { allFinite, chunksBySize } from './flat.js';

beforeAll(async () => {
  await selectBackend('cpu');
});

interface TorchFixture {
  settings: {
    learningRate: number;
    beta1: number;
    beta2: number;
    eps: number;
    weightDecay: number;
  };
  x: { shape: [number, number]; values: number[] };
  y: { shape: [number, number]; values: number[] };
  initial: Record<'w' | 'b' | 'unused', number[]>;
  shapes: Record<'w' | 'b' | 'unused', number[]>;
  steps: Array<{
    loss: number;
    grads: Record<'w' | 'b', number[]>;
    params: Record<'w' | 'b' | 'unused', number[]>;
    expAvg: Record<'w' | 'b', number[]>;
    expInf: Record<'w' | 'b', number[]>;
  }>;
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/adamax-torch.json', import.meta.url), 'utf8'),
) as TorchFixture;

function fixtureVariables(): Record<'w' | 'b' | 'unused', tf.Variable> {
  return {
    w: tf.variable(tf.tensor(fixture.initial.w, fixture.shapes.w), true),
    b: tf.variable(tf.tensor(fixture.initial.b, fixture.shapes.b), true),
    unused: tf.variable(tf.tensor(fixture.initial.unused, fixture.shapes.unused), true),
  };
}

function expectClose(actual: ArrayLike<number>, expected: number[], relTol: number, absTol = 1e-7) {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tol = absTol + relTol * Math.abs(expected[i]!);
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol)) {
      throw new Error(`element ${i}: got ${actual[i]}, expected ${expected[i]} (tolerance ${tol})`);
    }
  }
}

describe('Adamax', () => {
  it('has the paper defaults', () => {
    const opt = new Adamax();
    expect(opt.options).toEqual(ADAMAX_DEFAULTS);
    expect(ADAMAX_DEFAULTS).toMatchObject({
      learningRate: 5e-4,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 5e-5,
      warmupSteps: 0,
    });
  });

  it('matches hand-computed updates, weight decay added to the gradient', () => {
    const lr = 0.1;
    const b1 = 0.5;
    const b2 = 0.75;
    const eps = 0.01;
    const wd = 0.2;
    const opt = new Adamax({ learningRate: lr, beta1: b1, beta2: b2, eps, weightDecay: wd });
    const theta0 = [1, -2];
    const v = tf.variable(tf.tensor1d(theta0));
    const gradsPerStep = [
      [0.5, 0],
      [-1, 0.25],
    ];
    // Float64 reference of the PyTorch recurrence.
    let theta = [...theta0];
    let m = [0, 0];
    let u = [0, 0];
    gradsPerStep.forEach((g0, k) => {
      const t = k + 1;
      const g = g0.map((gi, i) => gi + wd * theta[i]!);
      m = m.map((mi, i) => b1 * mi + (1 - b1) * g[i]!);
      u = u.map((ui, i) => Math.max(b2 * ui, Math.abs(g[i]!) + eps));
      theta = theta.map((th, i) => th - (lr / (1 - b1 ** t)) * (m[i]! / u[i]!));
      const grad = tf.tensor1d(g0);
      opt.applyGradients({ v }, { v: grad });
      grad.dispose();
      expectClose(v.dataSync(), theta, 1e-6);
      // First step by hand, pinning the formula itself: g = [0.7, -0.4], m = [0.35, -0.2],
      // u = [0.71, 0.41], θ = θ0 − (0.1/0.5)·m/u.
      if (k === 0)
        expectClose(v.dataSync(), [1 - 0.2 * (0.35 / 0.71), -2 - 0.2 * (-0.2 / 0.41)], 1e-6);
      expectClose(opt.getState().expAvg.v!.dataSync(), m, 1e-6);
      expectClose(opt.getState().expInf.v!.dataSync(), u, 1e-6);
    });
    expect(opt.iterations).toBe(2);
    opt.dispose();
    v.dispose();
  });

  it('matches torch.optim.Adamax step for step given the same gradients', () => {
    const vars = fixtureVariables();
    const opt = new Adamax(fixture.settings);
    for (const step of fixture.steps) {
      const grads = {
        w: tf.tensor(step.grads.w, fixture.shapes.w),
        b: tf.tensor(step.grads.b, fixture.shapes.b),
      };
      opt.applyGradients(vars, grads);
      tf.dispose(grads);
      for (const n of ['w', 'b'] as const) {
        expectClose(vars[n].dataSync(), step.params[n], 2e-6);
        expectClose(opt.getState().expAvg[n]!.dataSync(), step.expAvg[n], 2e-6);
        expectClose(opt.getState().expInf[n]!.dataSync(), step.expInf[n], 2e-6);
      }
      // Without a gradient, a variable and its state stay untouched.
      expect(Array.from(vars.unused.dataSync())).toEqual(step.params.unused);
      expect(opt.getState().steps.unused).toBeUndefined();
    }
    opt.dispose();
    tf.dispose(Object.values(vars));
  });

  it('follows the PyTorch trajectory when tfjs computes the gradients too', () => {
    const vars = fixtureVariables();
    const opt = new Adamax(fixture.settings);
    const x = tf.tensor2d(fixture.x.values, fixture.x.shape);
    const y = tf.tensor2d(fixture.y.values, fixture.y.shape);
    for (const step of fixture.steps) {
      const { value, grads } = tf.variableGrads(
        () =>
          tf.div(
            tf.sum(tf.square(tf.sub(tf.add(tf.matMul(x, vars.w), vars.b), y))),
            5,
          ) as tf.Scalar,
        [vars.w, vars.b],
      );
      expect(value.dataSync()[0]).toBeCloseTo(step.loss, 5);
      opt.applyGradients(vars, { w: grads[vars.w.name]!, b: grads[vars.b.name]! });
      tf.dispose([value, ...Object.values(grads)]);
      expectClose(vars.w.dataSync(), step.params.w, 1e-5, 1e-6);
      expectClose(vars.b.dataSync(), step.params.b, 1e-5, 1e-6);
    }
    tf.dispose([x, y, ...Object.values(vars)]);
    opt.dispose();
  });

  it('warms the learning rate up linearly over warmupSteps updates', () => {
    const opt = new Adamax({ learningRate: 1, warmupSteps: 4, weightDecay: 0 });
    const v = tf.variable(tf.scalar(0));
    const seen: number[] = [];
    const moves: number[] = [];
    for (let i = 0; i < 6; i++) {
      seen.push(opt.currentLearningRate());
      const before = v.dataSync()[0]!;
      const g = tf.scalar(1);
      opt.applyGradients({ v }, { v: g });
      g.dispose();
      moves.push(before - v.dataSync()[0]!);
    }
    expect(seen).toEqual([0.25, 0.5, 0.75, 1, 1, 1]);
    // With a constant gradient 1: m/(1−β1^t) = 1 and u = 1 + eps, so each move is the lr.
    for (const [i, mv] of moves.entries()) expect(mv).toBeCloseTo(seen[i]!, 5);
    opt.dispose();
    v.dispose();
  });

  it('exports and imports its state so a continued run is identical', () => {
    const run = (split: boolean): number[] => {
      const v = tf.variable(tf.tensor1d([0.3, -0.7, 1.1]));
      let opt = new Adamax({ learningRate: 0.01 });
      for (let i = 0; i < 6; i++) {
        if (split && i === 3) {
          const state = opt.getState();
          const fresh = new Adamax({ learningRate: 0.01 });
          fresh.setState(state, { v });
          opt.dispose();
          opt = fresh;
        }
        tf.tidy(() => opt.applyGradients({ v }, { v: tf.sin(tf.mul(v, i + 1)) }));
      }
      const out = Array.from(v.dataSync());
      opt.dispose();
      v.dispose();
      return out;
    };
    expect(run(true)).toEqual(run(false));
  });

  it('rejects bad options, unknown gradients and mismatched state', () => {
    expect(() => new Adamax({ learningRate: -1 })).toThrow(ConfigError);
    expect(() => new Adamax({ beta2: 1 })).toThrow(/beta2/);
    expect(() => new Adamax({ warmupSteps: 1.5 })).toThrow(/warmupSteps/);
    const v = tf.variable(tf.zeros([2]));
    const opt = new Adamax();
    const g = tf.zeros([3]);
    expect(() => opt.applyGradients({ v }, { w: g })).toThrow(/'w'/);
    expect(() => opt.applyGradients({ v }, { v: g })).toThrow(/shape/);
    const state = {
      iterations: 1,
      steps: { v: 1 },
      expAvg: { v: g },
      expInf: { v: g },
      options: { ...ADAMAX_DEFAULTS },
    };
    expect(() => opt.setState(state, { v }, 'opt.safetensors')).toThrow(/opt.safetensors.*shape/);
    tf.dispose([v, g]);
    opt.dispose();
  });

  it('does not leak tensors across updates', () => {
    const v = tf.variable(tf.ones([4]));
    const opt = new Adamax();
    const g = tf.ones([4]);
    opt.applyGradients({ v }, { v: g });
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) opt.applyGradients({ v }, { v: g });
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([v, g]);
    opt.dispose();
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`updates all variables at once exactly as one at a time, on ${backend}`, async () => {
      await selectBackend(backend);
      const shapes: Record<string, number[]> = { a: [3, 3, 2, 4], b: [4], c: [5, 5], d: [7] };
      let seed = 1;
      const random = (shape: number[]) => {
        const n = shape.reduce((x, y) => x * y, 1);
        const values = Float32Array.from({ length: n }, () => {
          seed = (seed * 16807) % 2147483647;
          return seed / 2147483647 - 0.5;
        });
        return tf.tensor(values, shape);
      };
      const vars = Object.fromEntries(
        Object.entries(shapes).map(([k, s]) => [k, tf.variable(random(s), true)]),
      );
      const o = { learningRate: 0.01, beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 };
      const opt = new Adamax(o);
      // The straightforward per-variable update (spec 6.1) as the reference, in float32 tfjs ops.
      const ref = Object.fromEntries(
        Object.entries(vars).map(([k, v]) => [
          k,
          { theta: tf.clone(v), m: tf.zerosLike(v), u: tf.zerosLike(v), steps: 0 },
        ]),
      );
      // Step 1 leaves 'd' out, so the update has two step-count groups afterwards.
      for (const names of [
        ['a', 'b', 'c'],
        ['a', 'b', 'c', 'd'],
        ['a', 'b', 'c', 'd'],
      ]) {
        const grads = Object.fromEntries(names.map((k) => [k, random(shapes[k]!)]));
        opt.applyGradients(vars, grads);
        for (const k of names) {
          const r = ref[k]!;
          r.steps += 1;
          const next = tf.tidy(() => {
            const g = tf.add(grads[k]!, tf.mul(r.theta, o.weightDecay));
            const m = tf.add(tf.mul(r.m, o.beta1), tf.mul(g, 1 - o.beta1));
            const u = tf.maximum(tf.mul(r.u, o.beta2), tf.add(tf.abs(g), o.eps));
            const size = o.learningRate / (1 - o.beta1 ** r.steps);
            return { theta: tf.sub(r.theta, tf.mul(tf.div(m, u), size)), m, u };
          });
          tf.dispose([r.theta, r.m, r.u]);
          Object.assign(r, next);
        }
        tf.dispose(Object.values(grads));
        const state = opt.getState();
        for (const [k, r] of Object.entries(ref)) {
          expect(Array.from(vars[k]!.dataSync()), k).toEqual(Array.from(r.theta.dataSync()));
          if (r.steps === 0) continue;
          expect(Array.from(state.expAvg[k]!.dataSync())).toEqual(Array.from(r.m.dataSync()));
          expect(Array.from(state.expInf[k]!.dataSync())).toEqual(Array.from(r.u.dataSync()));
          expect(state.steps[k]).toBe(r.steps);
        }
      }
      opt.dispose();
      for (const r of Object.values(ref)) tf.dispose([r.theta, r.m, r.u]);
      tf.dispose(Object.values(vars));
      await selectBackend('cpu');
    });
  }

  it('splits large flat updates into chunks of bounded size', () => {
    const sizes: Record<string, number> = { a: 3, b: 4, c: 10, d: 1, e: 2 };
    expect(chunksBySize(Object.keys(sizes), (n) => sizes[n]!, 7)).toEqual([
      ['a', 'b'],
      ['c'],
      ['d', 'e'],
    ]);
    expect(chunksBySize(['a'], (n) => sizes[n]!, 1)).toEqual([['a']]);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`allFinite finds a non-finite value in any of many tensors, on ${backend}`, async () => {
      await selectBackend(backend);
      tf.tidy(() => {
        const ok = [tf.ones([3, 2]), tf.zeros([5]), tf.scalar(2), tf.fill([37], 3.4e38)];
        expect(allFinite(ok)).toBe(true);
        expect(allFinite([])).toBe(true);
        expect(allFinite([...ok, tf.tensor1d([1, Number.NaN])])).toBe(false);
        expect(allFinite([tf.tensor1d([Number.POSITIVE_INFINITY]), ...ok])).toBe(false);
        // In a 4-value SIMD block and in a scalar tail.
        const at = (i: number, v: number) =>
          tf.tensor1d(Array.from({ length: 9 }, (_, k) => (k === i ? v : k)));
        expect(allFinite([...ok, at(2, Number.NEGATIVE_INFINITY)])).toBe(false);
        expect(allFinite([...ok, at(8, Number.NaN)])).toBe(false);
        expect(allFinite([...ok, at(8, -0)])).toBe(true);
      });
    });
  }
});
