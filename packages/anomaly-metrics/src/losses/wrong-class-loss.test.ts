import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { EmptyInputError, InvalidOptionError, LengthMismatchError, ShapeError } from '../errors.js';
import { useCpuBackend } from '../test-support/cpu-backend.js';
import { wrongClassLoss } from './wrong-class-loss.js';

beforeAll(useCpuBackend);

const softplus = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** The loss in float64 plain JS, from spec 6.4's definition. */
function wrongClassLoss64(
  perClass: number[][],
  gen: number[],
  labels: number[],
  weight = 6000,
  temperature = 1000,
): number {
  let sum = 0;
  let entries = 0;
  perClass.forEach((row, b) => {
    row.forEach((v, c) => {
      entries += 1;
      if (c !== labels[b]) sum += weight * softplus((v - gen[b]!) / temperature);
    });
  });
  return sum / entries;
}

// Realistic log-densities (~ −2e4 nats) with class ratios from −3000 to +2000 nats.
const perClass = [
  [-21000, -18000, -19500],
  [-20000, -20500, -22000],
];
const gen = [-18000, -20500];
const labels = [1, 0];

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1e-6, Math.abs(b));
}

describe('wrongClassLoss', () => {
  it('equals the mean over all B×C entries of λ softplus(Δ/T) at the wrong classes (hand values)', () => {
    // Δ/T per entry: row 0 [−3, 0 (true class), −1.5]; row 1 [0.5 (true class), 0, −1.5].
    const hand = (6000 / 6) * (softplus(-3) + softplus(-1.5) + Math.LN2 + softplus(-1.5));
    expect(wrongClassLoss64(perClass, gen, labels)).toBeCloseTo(hand, 9);
    const loss = wrongClassLoss(tf.tensor2d(perClass), tf.tensor1d(gen), labels);
    expect(loss.rank).toBe(0);
    expect(relErr(loss.dataSync()[0]!, hand)).toBeLessThan(1e-6);
  });

  it('ignores the true-class entries but counts them in the mean; honours λ and T; tensor labels', () => {
    const shifted = perClass.map((row, b) => row.map((v, c) => (c === labels[b] ? v + 5000 : v)));
    const a = wrongClassLoss(tf.tensor2d(perClass), tf.tensor1d(gen), labels).dataSync()[0]!;
    const b = wrongClassLoss(tf.tensor2d(shifted), tf.tensor1d(gen), labels).dataSync()[0]!;
    expect(b).toBe(a);
    const custom = wrongClassLoss(
      tf.tensor2d(perClass),
      tf.tensor1d(gen),
      tf.tensor1d(labels, 'int32'),
      { weight: 2, temperature: 500 },
    ).dataSync()[0]!;
    expect(relErr(custom, wrongClassLoss64(perClass, gen, labels, 2, 500))).toBeLessThan(1e-6);
  });

  it('gradient: λ σ(Δ/T) [c ≠ y] / (T·B·C) for log p(x|c), zero for log p_gen', () => {
    const [gPerClass, gGen] = tf.grads((p: tf.Tensor, g: tf.Tensor) =>
      wrongClassLoss(p as tf.Tensor2D, g as tf.Tensor1D, labels),
    )([tf.tensor2d(perClass), tf.tensor1d(gen)]);
    const hand = perClass.map((row, b) =>
      row.map((v, c) =>
        c === labels[b] ? 0 : (6000 * sigmoid((v - gen[b]!) / 1000)) / (1000 * 6),
      ),
    );
    const got = gPerClass!.arraySync() as number[][];
    got.forEach((row, b) => {
      row.forEach((v, c) => {
        expect(Math.abs(v - hand[b]![c]!), `entry ${b},${c}`).toBeLessThan(1e-7);
      });
    });
    expect(got[0]![1]).toBe(0);
    expect(got[0]![0]).toBeGreaterThan(0);
    expect([...gGen!.dataSync()]).toEqual([0, 0]);
  });

  it('gradient matches central differences of the float64 definition', () => {
    const base = [
      [-10, -3, 4],
      [2, -7, 0.5],
    ];
    const g0 = [-1, 1];
    const y = [2, 0];
    const options = { weight: 3, temperature: 7 };
    const grad = tf
      .grad((p: tf.Tensor) => wrongClassLoss(p as tf.Tensor2D, tf.tensor1d(g0), y, options))(
        tf.tensor2d(base),
      )
      .arraySync() as number[][];
    const h = 1e-4;
    base.forEach((row, b) => {
      row.forEach((_, c) => {
        const bump = (d: number) =>
          base.map((r, i) => r.map((v, j) => (i === b && j === c ? v + d : v)));
        const numeric =
          (wrongClassLoss64(bump(h), g0, y, 3, 7) - wrongClassLoss64(bump(-h), g0, y, 3, 7)) /
          (2 * h);
        expect(Math.abs(grad[b]![c]! - numeric), `entry ${b},${c}`).toBeLessThan(1e-5);
      });
    });
  });

  it('does not leak tensors, with or without a gradient', () => {
    const p = tf.tensor2d(perClass);
    const g = tf.tensor1d(gen);
    const f = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      wrongClassLoss(a as tf.Tensor2D, b as tf.Tensor1D, labels),
    );
    const run = () => tf.dispose([wrongClassLoss(p, g, labels), ...f([p, g])]);
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) run();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([p, g]);
  });

  it('rejects bad shapes, labels and options, naming what is wrong', () => {
    const p = tf.zeros([2, 3]) as tf.Tensor2D;
    const g = tf.zeros([2]) as tf.Tensor1D;
    expect(() => wrongClassLoss(tf.zeros([2]) as unknown as tf.Tensor2D, g, [0, 1])).toThrow(
      ShapeError,
    );
    expect(() => wrongClassLoss(p, tf.zeros([3]) as tf.Tensor1D, [0, 1])).toThrow(
      LengthMismatchError,
    );
    expect(() => wrongClassLoss(p, g, [0])).toThrow(/labels 1/);
    expect(() => wrongClassLoss(p, g, [0, 3])).toThrow(/labels\[1\] is 3/);
    expect(() => wrongClassLoss(p, g, [0.5, 1])).toThrow(InvalidOptionError);
    expect(() => wrongClassLoss(tf.zeros([0, 3]) as tf.Tensor2D, g, [])).toThrow(EmptyInputError);
    expect(() => wrongClassLoss(p, g, [0, 1], { temperature: 0 })).toThrow(/temperature/);
    expect(() => wrongClassLoss(p, g, [0, 1], { weight: Number.NaN })).toThrow(/weight/);
  });
});
