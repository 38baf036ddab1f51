import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { couplingNetFromConfig } from '../coupling-net.js';
import { ConfigError, ShapeError } from '../errors.js';
import { seededNormal } from '../testing/index.js';
import { selectBackend, TEST_BACKENDS } from '../testing/test-support/on-backends.js';
import { DenseCouplingNet } from './dense-coupling-net.js';

const nets: { dispose(): void }[] = [];
function make(options: ConstructorParameters<typeof DenseCouplingNet>[0]): DenseCouplingNet {
  const net = new DenseCouplingNet(options);
  nets.push(net);
  return net;
}
afterEach(() => {
  for (const n of nets.splice(0)) n.dispose();
});

/** The network computed by hand in float64: Linear → ReLU → Linear → ReLU → Linear. */
function referenceForward(net: DenseCouplingNet, x: Float32Array, batch: number): Float64Array {
  const vars = net.variables();
  let h = Float64Array.from(x);
  let width = net.inFeatures;
  for (let layer = 1; layer <= 3; layer++) {
    const w = vars[`linear${layer}.weight`]!;
    const b = vars[`linear${layer}.bias`]!.dataSync();
    const [fanIn, fanOut] = w.shape as [number, number];
    expect(fanIn).toBe(width);
    const wv = w.dataSync();
    const out = new Float64Array(batch * fanOut);
    for (let n = 0; n < batch; n++) {
      for (let o = 0; o < fanOut; o++) {
        let s = b[o]!;
        for (let i = 0; i < fanIn; i++) s += h[n * fanIn + i]! * wv[i * fanOut + o]!;
        out[n * fanOut + o] = layer < 3 ? Math.max(0, s) : s;
      }
    }
    h = out;
    width = fanOut;
  }
  return h;
}

describe('DenseCouplingNet', () => {
  it("uses PyTorch's default Linear init: weights and biases U(±1/√fan_in)", async () => {
    await selectBackend('cpu');
    const net = make({ inFeatures: 10, outFeatures: 20, hidden: 64, seed: 1 });
    const vars = net.variables();
    expect(Object.keys(vars)).toEqual([
      'linear1.weight',
      'linear1.bias',
      'linear2.weight',
      'linear2.bias',
      'linear3.weight',
      'linear3.bias',
    ]);
    const fanIns = [10, 64, 64];
    const shapes = [
      [10, 64],
      [64, 64],
      [64, 20],
    ];
    for (let layer = 1; layer <= 3; layer++) {
      const bound = 1 / Math.sqrt(fanIns[layer - 1]!);
      const w = vars[`linear${layer}.weight`]!;
      expect(w.shape).toEqual(shapes[layer - 1]);
      const values = [...w.dataSync(), ...vars[`linear${layer}.bias`]!.dataSync()];
      const max = Math.max(...values.map(Math.abs));
      expect(max).toBeLessThanOrEqual(bound);
      expect(max).toBeGreaterThan(0.9 * bound); // spread over the whole interval
      const rms = Math.sqrt(values.reduce((a, v) => a + v * v, 0) / values.length);
      expect(rms).toBeGreaterThan(0.85 * (bound / Math.sqrt(3)));
      expect(rms).toBeLessThan(1.15 * (bound / Math.sqrt(3)));
    }
    expect(net.inChannels).toBe(10);
    expect(net.outChannels).toBe(20);
  });

  for (const backend of TEST_BACKENDS) {
    it(`matches a float64 reference forward pass and does not leak, on ${backend}`, async () => {
      await selectBackend(backend);
      const net = make({ inFeatures: 5, outFeatures: 8, hidden: 16, seed: 3 });
      const x = seededNormal([4, 5], 2);
      const expected = referenceForward(net, x.dataSync() as Float32Array, 4);
      const y = net.apply(x);
      expect(y.shape).toEqual([4, 8]);
      const got = y.dataSync();
      for (let i = 0; i < expected.length; i++) expect(got[i]).toBeCloseTo(expected[i]!, 5);
      y.dispose();
      const before = tf.memory().numTensors;
      tf.dispose(net.apply(x));
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });
  }

  it('rebuilds the same initial weights from its config', async () => {
    await selectBackend('cpu');
    const net = make({ inFeatures: 3, outFeatures: 6, hidden: 8, seed: 4 });
    const copy = couplingNetFromConfig(JSON.parse(JSON.stringify(net.getConfig())));
    nets.push(copy);
    expect(copy).toBeInstanceOf(DenseCouplingNet);
    const a = net.variables();
    const b = copy.variables();
    for (const name of Object.keys(a)) {
      expect(Array.from(b[name]!.dataSync())).toEqual(Array.from(a[name]!.dataSync()));
    }
  });

  it('rejects bad inputs and options with clear errors', async () => {
    await selectBackend('cpu');
    const net = make({ inFeatures: 4, outFeatures: 8, hidden: 4, seed: 1 });
    tf.tidy(() => {
      expect(() => net.apply(tf.zeros([2, 5]))).toThrow(ShapeError);
      expect(() => net.apply(tf.zeros([2, 1, 1, 4]))).toThrow(
        /expects a vector input \[batch, 4\]/,
      );
    });
    expect(() => new DenseCouplingNet({ inFeatures: 4, outFeatures: -1, seed: 1 })).toThrow(
      ConfigError,
    );
    expect(() => new DenseCouplingNet({ inFeatures: 4, outFeatures: 4, seed: Number.NaN })).toThrow(
      /'seed' must be an integer/,
    );
  });
});
