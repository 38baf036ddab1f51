import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { bijectorFromConfig, withDataInit } from '../bijector.js';
import { ConfigError } from '../errors.js';
import { ConvCouplingNet } from '../nets/conv-coupling-net.js';
import { DenseCouplingNet } from '../nets/dense-coupling-net.js';
import { bijectorBattery, perturbVariables, seededNormal } from '../testing/index.js';
import { selectBackend, TEST_BACKENDS } from '../testing/test-support/on-backends.js';
import { AdditiveCoupling, AffineCoupling } from './coupling.js';

const LOG_SIGMOID_2 = Math.log(1 / (1 + Math.exp(-2)));

const owned: { dispose(): void }[] = [];
function own<T extends { dispose(): void }>(b: T): T {
  owned.push(b);
  return b;
}
afterEach(() => {
  for (const b of owned.splice(0)) b.dispose();
});

const convAffine = () =>
  new AffineCoupling({
    channels: 4,
    net: new ConvCouplingNet({ inChannels: 2, outChannels: 4, hidden: 8, seed: 1 }),
  });
const convAdditive = () =>
  new AdditiveCoupling({
    channels: 4,
    net: new ConvCouplingNet({ inChannels: 2, outChannels: 2, hidden: 8, seed: 2 }),
  });
const denseAffine = () =>
  new AffineCoupling({
    channels: 6,
    net: new DenseCouplingNet({ inFeatures: 3, outFeatures: 6, hidden: 8, seed: 3 }),
  });
const denseAdditive = () =>
  new AdditiveCoupling({
    channels: 6,
    net: new DenseCouplingNet({ inFeatures: 3, outFeatures: 3, hidden: 8, seed: 4 }),
  });

for (const backend of TEST_BACKENDS) {
  describe(`couplings on ${backend}: testing-kit battery`, () => {
    // The battery perturbs every trainable variable (std 0.1), which moves the conv nets'
    // zero-initialised output layers away from zero: the couplings are non-trivial maps.
    const conv = {
      dataInit: true,
      badInputShapes: [
        [2, 3, 3, 5],
        [2, 3, 3],
        [2, 4],
      ],
    };
    const dense = {
      badInputShapes: [
        [3, 7],
        [3, 2, 2, 6],
      ],
    };
    const batteries = [
      ...bijectorBattery('AffineCoupling(ConvCouplingNet)', convAffine, [2, 3, 3, 4], conv),
      ...bijectorBattery('AdditiveCoupling(ConvCouplingNet)', convAdditive, [2, 3, 3, 4], conv),
      ...bijectorBattery('AffineCoupling(DenseCouplingNet)', denseAffine, [3, 6], dense),
      ...bijectorBattery('AdditiveCoupling(DenseCouplingNet)', denseAdditive, [3, 6], dense),
    ];
    for (const c of batteries) {
      it(c.name, async () => {
        await selectBackend(backend);
        await c.run();
      });
    }
  });

  describe(`couplings on ${backend}: known values and gradients`, () => {
    it('affine log-det at init is (C/2)·H·W·log σ(2): −194.96 for C = 12 on 16x16', async () => {
      await selectBackend(backend);
      const coupling = own(
        new AffineCoupling({
          channels: 12,
          net: new ConvCouplingNet({ inChannels: 6, outChannels: 12, hidden: 8, seed: 5 }),
        }),
      );
      const x = seededNormal([2, 16, 16, 12], 6);
      // Data init leaves the zero output layer alone, so the init values hold after it too.
      withDataInit(() => tf.dispose(coupling.forward(x)));
      tf.tidy(() => {
        const { y, logDet } = coupling.forwardAndLogDet(x);
        const expected = 6 * 16 * 16 * LOG_SIGMOID_2;
        expect(expected).toBeCloseTo(-194.96, 2);
        for (const v of logDet.dataSync()) expect(v).toBeCloseTo(expected, 2);
        // y = concat(x_a, σ(2)·x_b): the first half passes, the second is scaled by 0.8808.
        const [ya, yb] = tf.split(y, 2, 3);
        const [xa, xb] = tf.split(x, 2, 3);
        expect(tf.max(tf.abs(tf.sub(ya!, xa!))).dataSync()[0]).toBe(0);
        const ratio = Math.exp(LOG_SIGMOID_2);
        expect(tf.max(tf.abs(tf.sub(yb!, tf.mul(xb!, ratio)))).dataSync()[0]).toBeLessThan(1e-5);
      });
      x.dispose();
    });

    it('uses even net outputs as shift and odd ones as raw scale, adding before scaling', async () => {
      await selectBackend(backend);
      const coupling = own(
        new AffineCoupling({
          channels: 4,
          net: new DenseCouplingNet({ inFeatures: 2, outFeatures: 4, hidden: 4, seed: 7 }),
        }),
      );
      // Zero the net's last weight so h is its bias: h = [t0, r0, t1, r1].
      const vars = coupling.variables();
      tf.tidy(() => {
        vars['net.linear3.weight']!.assign(tf.zeros([4, 4]));
        vars['net.linear3.bias']!.assign(tf.tensor1d([0.5, -1, 2, 0.3]));
      });
      const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
      const s = [sigmoid(-1 + 2), sigmoid(0.3 + 2)];
      const t = [0.5, 2];
      tf.tidy(() => {
        const { y, logDet } = coupling.forwardAndLogDet(tf.tensor2d([[1, 2, 3, 4]]));
        const got = y.dataSync();
        expect(got[0]).toBeCloseTo(1, 6);
        expect(got[1]).toBeCloseTo(2, 6);
        expect(got[2]).toBeCloseTo((3 + t[0]!) * s[0]!, 5);
        expect(got[3]).toBeCloseTo((4 + t[1]!) * s[1]!, 5);
        expect(logDet.dataSync()[0]).toBeCloseTo(Math.log(s[0]!) + Math.log(s[1]!), 5);
      });
    });

    it('additive coupling shifts the second half by the net output with log-det 0', async () => {
      await selectBackend(backend);
      const coupling = own(denseAdditive());
      const net = coupling.net;
      tf.tidy(() => {
        const x = seededNormal([3, 6], 8);
        const { y, logDet } = coupling.forwardAndLogDet(x);
        const [xa, xb] = tf.split(x, 2, 1);
        const expected = tf.concat([xa!, tf.add(xb!, net.apply(xa!))], 1);
        expect(tf.max(tf.abs(tf.sub(y, expected))).dataSync()[0]).toBeLessThan(1e-6);
        expect(Array.from(logDet.dataSync())).toEqual([0, 0, 0]);
      });
    });

    it('sends non-zero gradients to every trainable variable after perturbation', async () => {
      await selectBackend(backend);
      for (const coupling of [own(convAffine()), own(convAdditive()), own(denseAffine())]) {
        const shape = coupling.channels === 4 ? [2, 3, 3, 4] : [3, 6];
        const x = seededNormal(shape, 9);
        withDataInit(() => tf.dispose(coupling.forward(x)));
        perturbVariables(coupling, 10, 0.1);
        const vars = coupling.variables();
        const names = Object.keys(vars).filter((n) => vars[n]!.trainable);
        const { value, grads } = tf.variableGrads(
          () =>
            tf.tidy(() => {
              const { y, logDet } = coupling.forwardAndLogDet(x);
              return tf.sub(tf.mean(tf.square(y)), tf.mean(logDet)) as tf.Scalar;
            }),
          names.map((n) => vars[n]!),
        );
        for (const name of names) {
          const g = grads[vars[name]!.name];
          expect(g, `${coupling.type} ${name}`).toBeDefined();
          const largest = tf.tidy(() => tf.max(tf.abs(g!)).dataSync()[0]!);
          expect(largest, `${coupling.type} ${name}`).toBeGreaterThan(1e-6);
          expect(Number.isFinite(largest)).toBe(true);
        }
        tf.dispose([x, value, ...Object.values(grads)]);
      }
    });
  });
}

describe('coupling configuration', () => {
  it('rebuilds the same coupling, net included, from its config', async () => {
    await selectBackend('cpu');
    const coupling = own(convAffine());
    const config = coupling.getConfig();
    expect(config).toEqual({
      type: 'AffineCoupling',
      channels: 4,
      net: { type: 'ConvCouplingNet', inChannels: 2, outChannels: 4, hidden: 8, seed: 1 },
    });
    const copy = own(bijectorFromConfig(JSON.parse(JSON.stringify(config))));
    expect(copy).toBeInstanceOf(AffineCoupling);
    expect(Object.keys(copy.variables())).toEqual(Object.keys(coupling.variables()));
    expect(Object.keys(coupling.variables())[0]).toBe('net.conv1.weight');
  });

  it('rejects an odd channel count, a mismatched net, and a config without a net', async () => {
    await selectBackend('cpu');
    const net = own(new DenseCouplingNet({ inFeatures: 2, outFeatures: 4, hidden: 4, seed: 1 }));
    expect(() => new AffineCoupling({ channels: 5, net })).toThrow(ConfigError);
    expect(() => new AffineCoupling({ channels: 6, net })).toThrow(
      /AffineCoupling on 6 channels needs a net from 3 to 6 channels, got DenseCouplingNet from 2 to 4/,
    );
    expect(() => new AdditiveCoupling({ channels: 4, net })).toThrow(/needs a net from 2 to 2/);
    expect(() => bijectorFromConfig({ type: 'AffineCoupling', channels: 4 })).toThrow(
      /needs 'net'/,
    );
  });
});
