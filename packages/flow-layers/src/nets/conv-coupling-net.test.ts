import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { withDataInit } from '../bijector.js';
import { couplingNetFromConfig } from '../coupling-net.js';
import { ConfigError, ShapeError } from '../errors.js';
import { relativeError, seededNormal } from '../testing/index.js';
import { selectBackend, TEST_BACKENDS, withFusion } from '../testing/test-support/on-backends.js';
import { ConvCouplingNet } from './conv-coupling-net.js';

const nets: { dispose(): void }[] = [];
function make(options: ConstructorParameters<typeof ConvCouplingNet>[0]): ConvCouplingNet {
  const net = new ConvCouplingNet(options);
  nets.push(net);
  return net;
}
afterEach(() => {
  for (const n of nets.splice(0)) n.dispose();
});

function stats(values: ArrayLike<number>): { mean: number; std: number } {
  let mean = 0;
  for (let i = 0; i < values.length; i++) mean += values[i]! / values.length;
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += (values[i]! - mean) ** 2;
  return { mean, std: Math.sqrt(sq / (values.length - 1)) };
}

describe('ConvCouplingNet', () => {
  it('is initialised as spec 3.4 says: N(0, 0.05²) hidden convs, zero output layer', async () => {
    await selectBackend('cpu');
    const net = make({ inChannels: 6, outChannels: 12, hidden: 64, seed: 1 });
    const vars = net.variables();
    expect(Object.keys(vars)).toEqual([
      'conv1.weight',
      'norm1.loc',
      'norm1.logs',
      'conv2.weight',
      'norm2.loc',
      'norm2.logs',
      'conv3.weight',
      'conv3.bias',
      'conv3.logs',
    ]);
    expect(vars['conv1.weight']!.shape).toEqual([3, 3, 6, 64]);
    expect(vars['conv2.weight']!.shape).toEqual([1, 1, 64, 64]);
    expect(vars['conv3.weight']!.shape).toEqual([3, 3, 64, 12]);
    expect(vars['norm1.loc']!.shape).toEqual([64]);
    for (const name of ['conv1.weight', 'conv2.weight']) {
      const { mean, std } = stats(vars[name]!.dataSync());
      expect(Math.abs(mean)).toBeLessThan(0.005);
      expect(std).toBeGreaterThan(0.045);
      expect(std).toBeLessThan(0.055);
    }
    for (const name of ['conv3.weight', 'conv3.bias', 'conv3.logs']) {
      expect(vars[name]!.dataSync().every((v) => v === 0)).toBe(true);
    }
    expect(Object.values(vars).every((v) => v.trainable)).toBe(true);
  });

  for (const backend of TEST_BACKENDS) {
    it(`outputs zeros at init and a non-trivial map once moved, on ${backend}`, async () => {
      await selectBackend(backend);
      const net = make({ inChannels: 2, outChannels: 4, hidden: 8, seed: 2 });
      const x = seededNormal([2, 5, 4, 2], 3);
      tf.tidy(() => {
        const h = net.apply(x);
        expect(h.shape).toEqual([2, 5, 4, 4]);
        expect(tf.max(tf.abs(h)).dataSync()[0]).toBe(0);
      });
      const vars = net.variables();
      tf.tidy(() => {
        vars['conv3.weight']!.assign(seededNormal([3, 3, 8, 4], 4, 0.1));
        vars['conv3.bias']!.assign(tf.tensor1d([1, 2, 3, 4]));
        vars['conv3.logs']!.assign(tf.tensor1d([0, 0, Math.log(2) / 3, 0]));
      });
      tf.tidy(() => {
        const h = net.apply(x);
        const perChannel = tf.mean(h, [0, 1, 2]).dataSync();
        // Output channel 2 is scaled by exp(3 · log(2)/3) = 2 on top of its bias 3.
        expect(perChannel[2]).toBeGreaterThan(4);
        expect(tf.min(tf.abs(h)).dataSync()[0]).toBeGreaterThan(0);
      });
      const before = tf.memory().numTensors;
      tf.dispose(net.apply(x));
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });

    it(`initialises its ActNorms from data inside withDataInit, on ${backend}`, async () => {
      await selectBackend(backend);
      const net = make({ inChannels: 2, outChannels: 4, hidden: 8, seed: 5 });
      const x = seededNormal([4, 4, 4, 2], 6, 3, 1);
      withDataInit(() => tf.dispose(net.apply(x)));
      const vars = net.variables();
      for (const name of ['norm1.loc', 'norm1.logs', 'norm2.loc', 'norm2.logs']) {
        const values = vars[name]!.dataSync();
        expect(values.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      }
      // After init, the first hidden layer's pre-ReLU activations are normalised per channel:
      // recompute conv1 → ActNorm by hand from the variables.
      tf.tidy(() => {
        const pre = tf.conv2d(x as tf.Tensor4D, vars['conv1.weight'] as tf.Tensor4D, 1, 'same');
        const normed = tf.mul(tf.add(pre, vars['norm1.loc']!), tf.exp(vars['norm1.logs']!));
        const { mean, variance } = tf.moments(normed, [0, 1, 2]);
        for (const m of mean.dataSync()) expect(Math.abs(m)).toBeLessThan(1e-4);
        const n = 4 * 4 * 4;
        for (const v of variance.dataSync()) expect((v * n) / (n - 1)).toBeCloseTo(1, 3);
      });
      x.dispose();
    });
  }

  for (const backend of TEST_BACKENDS) {
    it(`folded (fusing) path gives the straightforward values and gradients (rtol 1e-5), on ${backend}`, async () => {
      await selectBackend(backend);
      const net = make({ inChannels: 2, outChannels: 4, hidden: 8, seed: 7 });
      const vars = net.variables();
      // Every parameter away from its initial value, so each fold and bias matters.
      tf.tidy(() => {
        Object.entries(vars).forEach(([name, v], i) => {
          const std = name.endsWith('logs') ? 0.3 : 0.5;
          v.assign(seededNormal(v.shape, 20 + i, std));
        });
      });
      const x = seededNormal([3, 5, 4, 2], 8);
      const r = seededNormal([3, 5, 4, 4], 9);
      const run = (fast: boolean) =>
        withFusion(fast, () =>
          tf.tidy(() => {
            const names = Object.keys(vars);
            const f = (input: tf.Tensor) => tf.sum(tf.mul(net.apply(input), r)) as tf.Scalar;
            const { value, grads } = tf.variableGrads(() => f(x), Object.values(vars));
            const dx = tf.grad(f)(x);
            return {
              y: net.apply(x).dataSync(),
              value: value.dataSync()[0]!,
              dx: dx.dataSync(),
              grads: names.map((n) => grads[vars[n]!.name]!.dataSync()),
            };
          }),
        );
      const before = tf.memory().numTensors;
      const fast = run(true);
      expect(tf.memory().numTensors).toBe(before);
      const reference = run(false);
      expect(relativeError(fast.y, reference.y)).toBeLessThan(1e-5);
      expect(relativeError(fast.dx, reference.dx)).toBeLessThan(1e-5);
      expect(Math.abs(fast.value - reference.value)).toBeLessThan(1e-5 * Math.abs(reference.value));
      fast.grads.forEach((g, i) => {
        expect(relativeError(g, reference.grads[i]!)).toBeLessThan(1e-5);
      });
      x.dispose();
      r.dispose();
    });
  }

  it('rebuilds the same initial weights from its config', async () => {
    await selectBackend('cpu');
    const net = make({ inChannels: 3, outChannels: 6, hidden: 8, seed: 9 });
    const copy = couplingNetFromConfig(JSON.parse(JSON.stringify(net.getConfig())));
    nets.push(copy);
    expect(copy).toBeInstanceOf(ConvCouplingNet);
    expect(copy.getConfig()).toEqual({
      type: 'ConvCouplingNet',
      inChannels: 3,
      outChannels: 6,
      hidden: 8,
      seed: 9,
    });
    const a = net.variables();
    const b = copy.variables();
    for (const name of Object.keys(a)) {
      expect(Array.from(b[name]!.dataSync())).toEqual(Array.from(a[name]!.dataSync()));
    }
    const other = make({ inChannels: 3, outChannels: 6, hidden: 8, seed: 10 });
    expect(Array.from(other.variables()['conv1.weight']!.dataSync())).not.toEqual(
      Array.from(a['conv1.weight']!.dataSync()),
    );
  });

  it('rejects bad inputs and options with clear errors', async () => {
    await selectBackend('cpu');
    const net = make({ inChannels: 2, outChannels: 4, hidden: 4, seed: 1 });
    tf.tidy(() => {
      expect(() => net.apply(tf.zeros([1, 3, 3, 3]))).toThrow(ShapeError);
      expect(() => net.apply(tf.zeros([1, 2]))).toThrow(
        /expects an NHWC input \[batch, height, width, 2\]/,
      );
    });
    expect(() => new ConvCouplingNet({ inChannels: 0, outChannels: 4, seed: 1 })).toThrow(
      ConfigError,
    );
    expect(
      () => new ConvCouplingNet({ inChannels: 2, outChannels: 4, hidden: 1.5, seed: 1 }),
    ).toThrow(/'hidden' must be a positive integer/);
    expect(() => couplingNetFromConfig({ type: 'NoSuchNet' })).toThrow(
      /Unknown coupling network type/,
    );
  });
});
