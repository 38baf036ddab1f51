import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { withDataInit } from '../bijector.js';
import { ShapeError } from '../errors.js';
import { selectBackend } from '../testing/test-support/on-backends.js';
import { ActNorm, isDataInitialised } from './act-norm.js';

beforeAll(async () => {
  await selectBackend('cpu');
});

/** Mean and unbiased std per channel (last axis) of a flat NHWC array, in float64. */
function channelStats(values: Float32Array, channels: number): { mean: number[]; std: number[] } {
  const n = values.length / channels;
  const mean = new Array<number>(channels).fill(0);
  const sq = new Array<number>(channels).fill(0);
  for (let i = 0; i < values.length; i++) mean[i % channels]! += values[i]! / n;
  for (let i = 0; i < values.length; i++)
    sq[i % channels]! += (values[i]! - mean[i % channels]!) ** 2;
  return { mean, std: sq.map((s) => Math.sqrt(s / (n - 1))) };
}

describe('ActNorm', () => {
  it('computes y = exp(logs) * (x + loc) with log-det H*W*sum(logs)', () => {
    const norm = new ActNorm({ shape: [2] });
    norm.loc.assign(tf.tensor1d([0.5, -1]));
    norm.logs.assign(tf.tensor1d([Math.log(2), Math.log(0.25)]));
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [1, 2, 3, 2]);
    const { y, logDet } = norm.forwardAndLogDet(x);
    const xs = x.dataSync();
    const expected = Array.from(xs, (v, i) => (i % 2 === 0 ? 2 * (v + 0.5) : 0.25 * (v - 1)));
    expect(Array.from(y.dataSync())).toEqual(expected.map((v) => expect.closeTo(v, 5)));
    expect(logDet.shape).toEqual([1]);
    expect(logDet.dataSync()[0]).toBeCloseTo(6 * (Math.log(2) + Math.log(0.25)), 4);
  });

  it('uses exp(logs) + eps as the scale when eps is set', () => {
    const norm = new ActNorm({ shape: [3], eps: 0.5 });
    norm.logs.assign(tf.tensor1d([0, Math.log(2), -1]));
    const x = tf.tensor2d([[1, 1, 1]]);
    const { y, logDet } = norm.forwardAndLogDet(x);
    const scales = [1.5, 2.5, Math.exp(-1) + 0.5];
    expect(Array.from(y.dataSync())).toEqual(scales.map((s) => expect.closeTo(s, 5)));
    expect(logDet.dataSync()[0]).toBeCloseTo(
      scales.reduce((a, s) => a + Math.log(s), 0),
      5,
    );
  });

  it('data init gives zero mean and unit unbiased std per channel, then applies at once', () => {
    const norm = new ActNorm({ shape: [3] });
    const x = tf.add(
      tf.mul(tf.randomNormal([4, 3, 3, 3], 0, 1, 'float32', 7), tf.tensor1d([2, 0.5, 3])),
      tf.tensor1d([1, -2, 4]),
    );
    expect(isDataInitialised(norm)).toBe(false);
    const y = withDataInit(() => norm.forward(x));
    expect(isDataInitialised(norm)).toBe(true);
    const { mean, std } = channelStats(y.dataSync() as Float32Array, 3);
    for (const m of mean) expect(m).toBeCloseTo(0, 5);
    for (const s of std) expect(s).toBeCloseTo(1, 4);
    // Outside the init pass the parameters stay fixed.
    const before = norm.logs.dataSync().slice();
    norm.forward(tf.mul(x, 10));
    expect(Array.from(norm.logs.dataSync())).toEqual(Array.from(before));
  });

  it('initialises once per pass even when called twice inside it', () => {
    const norm = new ActNorm({ shape: [2] });
    const x = tf.randomNormal([8, 2], 3, 2, 'float32', 1);
    withDataInit(() => {
      const y1 = norm.forward(x);
      const y2 = norm.forward(y1);
      // The second call must use the parameters set by the first: y1 is normalised, y2 = f(y1).
      const { std } = channelStats(y2.dataSync() as Float32Array, 2);
      const { std: std1 } = channelStats(y1.dataSync() as Float32Array, 2);
      expect(std1[0]).toBeCloseTo(1, 4);
      expect(std[0]).not.toBeCloseTo(1, 2);
    });
  });

  it('per-dimension data init uses statistics over the batch only', () => {
    const norm = new ActNorm({ shape: [4], eps: 1e-8 });
    const x = tf.tensor2d([
      [1, 2, 3, 4],
      [3, 2, 5, 0],
      [5, 2, 7, 2],
    ]);
    withDataInit(() => norm.forward(x));
    expect(Array.from(norm.loc.dataSync())).toEqual(
      [-3, -2, -5, -2].map((v) => expect.closeTo(v, 5)),
    );
    // The constant column has std 0: clamped at 1e-6, so logs = log(1e6).
    const logs = Array.from(norm.logs.dataSync());
    expect(logs[0]).toBeCloseTo(-Math.log(2), 5);
    expect(logs[1]).toBeCloseTo(Math.log(1e6), 3);
  });

  it('rejects inputs whose trailing axes do not match the parameter shape', () => {
    const norm = new ActNorm({ shape: [3] });
    expect(() => norm.forward(tf.zeros([2, 4, 4, 2]))).toThrow(ShapeError);
    expect(() => norm.forward(tf.zeros([3]))).toThrow(ShapeError);
    expect(() => new ActNorm({ shape: [] })).toThrow(/shape/);
  });
});
