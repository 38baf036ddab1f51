import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { EmptyInputError, InvalidOptionError, LengthMismatchError, ShapeError } from '../errors.js';
import { useCpuBackend } from '../test-support/cpu-backend.js';
import { marginLoss } from './margin-loss.js';
import { outlierLoss } from './outlier-loss.js';

beforeAll(useCpuBackend);

const softplus = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** The loss in float64 plain JS, from its definition. */
function outlierLoss64(lin: number[], lgen: number[], weight = 6000, temperature = 1000): number {
  const terms = lin.map((v, i) => softplus((v - lgen[i]!) / temperature));
  return (weight * terms.reduce((a, b) => a + b, 0)) / terms.length;
}

function expectAllClose(actual: ArrayLike<number>, expected: number[], relTol: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(1e-6, Math.abs(expected[i]!));
    expect(Math.abs((actual[i] as number) - expected[i]!) / scale, `index ${i}`).toBeLessThan(
      relTol,
    );
  }
}

describe('outlierLoss', () => {
  // log p values of realistic size (~ -2e4 nats) with ratios from -3000 to +2000 nats.
  const lin = [-21000, -20500, -19800, -18000];
  const lgen = [-18000, -20500, -20300, -20000];

  it('equals lambda * mean softplus(delta / T) (hand values)', () => {
    // delta / T = [-3, 0, 0.5, 2]
    const hand =
      (6000 / 4) * (0.04858735157374206 + Math.LN2 + 0.9740769841801067 + 2.1269280110429727);
    expect(outlierLoss64(lin, lgen)).toBeCloseTo(hand, 9);
    const loss = outlierLoss(tf.tensor1d(lin), tf.tensor1d(lgen));
    expect(loss.rank).toBe(0);
    expect(Math.abs(loss.dataSync()[0]! - hand) / hand).toBeLessThan(1e-6);
  });

  it('honours weight and temperature', () => {
    const value = outlierLoss(tf.tensor1d(lin), tf.tensor1d(lgen), {
      weight: 2,
      temperature: 500,
    }).dataSync()[0]!;
    expect(Math.abs(value - outlierLoss64(lin, lgen, 2, 500))).toBeLessThan(1e-5);
  });

  it('gradient: (lambda / T) sigmoid(delta / T) / n for log p_in, zero for log p_gen', () => {
    const [gIn, gGen] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      outlierLoss(a as tf.Tensor1D, b as tf.Tensor1D),
    )([tf.tensor1d(lin), tf.tensor1d(lgen)]);
    const hand = lin.map((v, i) => ((6000 / 1000) * sigmoid((v - lgen[i]!) / 1000)) / lin.length);
    // = 1.5 * [0.0474, 0.5, 0.6225, 0.8808]
    expectAllClose(gIn!.dataSync(), hand, 1e-6);
    expect([...gGen!.dataSync()]).toEqual([0, 0, 0, 0]);
  });

  it('gradient matches central differences of the float64 definition', () => {
    const g = tf.grad((a: tf.Tensor) =>
      outlierLoss(a as tf.Tensor1D, tf.tensor1d(lgen), { weight: 3, temperature: 7 }),
    )(tf.tensor1d([-18001, -20495, -20302, -19990]));
    const base = [-18001, -20495, -20302, -19990];
    const h = 1e-3;
    const numeric = base.map((_, i) => {
      const up = base.map((v, j) => (j === i ? v + h : v));
      const down = base.map((v, j) => (j === i ? v - h : v));
      return (outlierLoss64(up, lgen, 3, 7) - outlierLoss64(down, lgen, 3, 7)) / (2 * h);
    });
    expectAllClose(g.dataSync(), numeric, 1e-5);
  });

  it('flows back into model weights through upstream ops (variableGrads)', () => {
    // A one-weight "model", log p_in = w * f, with its own custom gradient: tfjs-core under plain
    // node registers no kernel gradients, and this loss must not need them.
    const linearModel = tf.customGrad(((wIn: tf.Tensor, fIn: tf.Tensor, save: tf.GradSaveFunc) => {
      save([wIn, fIn]);
      return {
        value: tf.mul(wIn, fIn),
        gradFunc: (dy: tf.Tensor | tf.Tensor[], [ws, fs]: tf.Tensor[]) => [
          tf.sum(tf.mul(dy as tf.Tensor, fs!)),
          tf.mul(dy as tf.Tensor, ws!),
        ],
      };
    }) as Parameters<typeof tf.customGrad>[0]);
    const w = tf.variable(tf.scalar(2));
    const features = [-9000, -10000, -11000];
    const genValues = [-19000, -20500, -21000];
    const f = tf.tensor1d(features);
    const gen = tf.tensor1d(genValues);
    const { value, grads } = tf.variableGrads(
      () => outlierLoss(linearModel(w, f) as tf.Tensor1D, gen),
      [w],
    );
    const lp = features.map((v) => 2 * v);
    const hand = lp.reduce(
      (s, v, i) => s + ((6 * sigmoid((v - genValues[i]!) / 1000)) / 3) * features[i]!,
      0,
    );
    const got = grads[w.name]!.dataSync()[0]!;
    expect(Math.abs(got - hand) / Math.abs(hand)).toBeLessThan(1e-5);
    expect(Math.abs(value.dataSync()[0]! - outlierLoss64(lp, genValues))).toBeLessThan(1e-3);
    tf.dispose([w, f, gen, value, ...Object.values(grads)]);
  });

  it('stays finite for huge ratios (softplus is stable)', () => {
    const v = outlierLoss(tf.tensor1d([1e6, -1e6]), tf.tensor1d([-1e6, 1e6]), {
      temperature: 1,
    }).dataSync()[0]!;
    expect(v).toBeCloseTo((6000 * 2e6) / 2, -3);
  });

  it('does not leak tensors', () => {
    const a = tf.tensor1d(lin);
    const b = tf.tensor1d(lgen);
    const f = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      outlierLoss(x as tf.Tensor1D, y as tf.Tensor1D),
    );
    const run = () => {
      const loss = outlierLoss(a, b);
      const gs = f([a, b]);
      tf.dispose([loss, ...gs]);
    };
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });

  it('rejects bad shapes, sizes and options', () => {
    expect(() => outlierLoss(tf.zeros([2, 2]) as unknown as tf.Tensor1D, tf.zeros([2]))).toThrow(
      ShapeError,
    );
    expect(() => outlierLoss(tf.zeros([2]), tf.zeros([3]))).toThrow(LengthMismatchError);
    expect(() => outlierLoss(tf.zeros([0]), tf.zeros([0]))).toThrow(EmptyInputError);
    expect(() => outlierLoss(tf.zeros([2]), tf.zeros([2]), { temperature: 0 })).toThrow(
      InvalidOptionError,
    );
    expect(() => outlierLoss(tf.zeros([2]), tf.zeros([2]), { weight: Number.NaN })).toThrow(
      InvalidOptionError,
    );
    expect(() => outlierLoss(tf.zeros([2], 'int32') as tf.Tensor1D, tf.zeros([2]))).toThrow(
      /float32/,
    );
  });
});

describe('marginLoss', () => {
  it('mean ReLU(margin - logp_inlier + logp_outlier) over the first n = min pairs', () => {
    const inliers = tf.tensor1d([-100, -100, -100]);
    const outliers = tf.tensor1d([-95, -120, -102, -1]); // 4th is unpaired
    // margin 10: [10 + 5, 10 - 20, 10 - 2] -> ReLU [15, 0, 8] -> mean 23/3
    const v = marginLoss(inliers, outliers, { margin: 10 }).dataSync()[0]!;
    expect(v).toBeCloseTo(23 / 3, 5);
    const [gIn, gOut] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      marginLoss(a as tf.Tensor1D, b as tf.Tensor1D, { margin: 10 }),
    )([inliers, outliers]);
    expect([...gIn!.dataSync()]).toEqual([0, 0, 0]); // detached, as in the reference
    expectAllClose(gOut!.dataSync(), [1 / 3, 0, 1 / 3, 0], 1e-7);
  });
  it('pairs fewer inliers than outliers and vice versa', () => {
    const v = marginLoss(tf.tensor1d([-10]), tf.tensor1d([-5, -100]), { margin: 1 }).dataSync()[0]!;
    expect(v).toBeCloseTo(6, 5);
    const w = marginLoss(tf.tensor1d([-10, 1000]), tf.tensor1d([-5]), { margin: 1 }).dataSync()[0]!;
    expect(w).toBeCloseTo(6, 5);
  });
  it('requires a margin', () => {
    expect(() => marginLoss(tf.zeros([1]), tf.zeros([1]), {} as { margin: number })).toThrow(
      InvalidOptionError,
    );
    expect(() => marginLoss(tf.zeros([1]), tf.zeros([1]), { margin: -1 })).toThrow(
      /margin must be/,
    );
  });
  it('does not leak tensors', () => {
    const a = tf.tensor1d([-1, -2, -3]);
    const b = tf.tensor1d([-1, -2]);
    const f = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      marginLoss(x as tf.Tensor1D, y as tf.Tensor1D, { margin: 2 }),
    );
    const run = () => tf.dispose([marginLoss(a, b, { margin: 2 }), ...f([a, b])]);
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, b]);
  });
});
