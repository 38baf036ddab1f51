import { readFileSync } from 'node:fs';
import { ConfigError, selectBackend } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ADAMAX_DEFAULTS, Adamax } from './adamax.js';

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
});
