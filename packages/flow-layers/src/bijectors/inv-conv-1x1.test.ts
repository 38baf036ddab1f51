import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { bijectorFromConfig } from '../bijector.js';
import { ConfigError, ShapeError } from '../errors.js';
import { logAbsDet } from '../linalg.js';
import { bijectorBattery } from '../testing/index.js';
import { selectBackend, TEST_BACKENDS } from '../testing/test-support/on-backends.js';
import { InvConv1x1 } from './inv-conv-1x1.js';

function normal(shape: number[], seed: number, scale = 1): tf.Tensor {
  const rng = createRng(seed);
  const n = tf.util.sizeFromShape(shape);
  return tf.tensor(
    Float32Array.from({ length: n }, () => scale * rng.normal()),
    shape,
  );
}

/** Moves every trainable variable away from its initial value by seeded noise. */
function perturb(layer: InvConv1x1, seed: number, scale = 0.2): void {
  let s = seed;
  for (const v of layer.trainableVariables()) {
    tf.tidy(() => v.assign(tf.add(v, normal(v.shape, s++, scale))));
  }
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

const created: InvConv1x1[] = [];
function make(options: ConstructorParameters<typeof InvConv1x1>[0]): InvConv1x1 {
  const layer = new InvConv1x1(options);
  created.push(layer);
  return layer;
}
afterEach(() => {
  for (const l of created.splice(0)) l.dispose();
});

for (const backend of TEST_BACKENDS) {
  describe(`InvConv1x1 on ${backend}: testing-kit battery`, () => {
    // The battery perturbs lower, upper and logS (std 0.1), so the log-det is not 0 there.
    const badInputShapes = [
      [2, 3, 3, 5],
      [2, 3, 4],
      [2, 3],
    ];
    const batteries = [
      ...bijectorBattery(
        'InvConv1x1 (LU), NHWC',
        () => new InvConv1x1({ channels: 4, seed: 1 }),
        [2, 3, 3, 4],
        {
          badInputShapes,
        },
      ),
      ...bijectorBattery(
        'InvConv1x1 (LU), vectors',
        () => new InvConv1x1({ channels: 4, seed: 2 }),
        [3, 4],
        {
          badInputShapes,
        },
      ),
      ...bijectorBattery(
        'InvConv1x1 (fixed), NHWC',
        () => new InvConv1x1({ channels: 4, seed: 3, lu: false }),
        [2, 3, 3, 4],
        { badInputShapes },
      ),
      ...bijectorBattery(
        'InvConv1x1 (fixed), vectors',
        () => new InvConv1x1({ channels: 6, seed: 4, lu: false }),
        [3, 6],
        { badInputShapes: [[3, 4]] },
      ),
    ];
    for (const c of batteries) {
      it(c.name, async () => {
        await selectBackend(backend);
        await c.run();
      });
    }
  });

  describe(`InvConv1x1 on ${backend}`, () => {
    for (const lu of [true, false]) {
      it(`starts orthogonal with log-det 0 (lu: ${lu})`, async () => {
        await selectBackend(backend);
        const layer = make({ channels: 6, seed: 3, lu });
        tf.tidy(() => {
          const w = layer.weight();
          const gram = tf.matMul(w, tf.transpose(w));
          expect(maxAbsDiff(gram, tf.eye(6))).toBeLessThan(1e-5);
          const { logDet } = layer.forwardAndLogDet(normal([3, 4, 5, 6], 1));
          expect(logDet.shape).toEqual([3]);
          for (const v of logDet.dataSync()) expect(Math.abs(v)).toBeLessThan(1e-4);
        });
      });

      it(`inverts rank-4 and rank-2 inputs, log-dets cancel (lu: ${lu})`, async () => {
        await selectBackend(backend);
        const layer = make({ channels: 4, seed: 5, lu });
        if (lu) perturb(layer, 10);
        for (const shape of [
          [2, 3, 3, 4],
          [5, 4],
        ]) {
          tf.tidy(() => {
            const x = normal(shape, 2);
            const { y, logDet } = layer.forwardAndLogDet(x);
            expect(y.shape).toEqual(shape);
            expect(maxAbsDiff(y, x)).toBeGreaterThan(1e-2); // not the identity
            const back = layer.inverseAndLogDet(y);
            expect(maxAbsDiff(back.x, x)).toBeLessThan(1e-5);
            expect(maxAbsDiff(tf.add(logDet, back.logDet), tf.zeros([shape[0]!]))).toBeLessThan(
              1e-5,
            );
          });
        }
      });
    }

    it('log-det equals #pixels · log|det W| in float64 after training moved the weights', async () => {
      await selectBackend(backend);
      const layer = make({ channels: 5, seed: 7 });
      perturb(layer, 20);
      const w = layer.weight();
      const expected = 3 * 4 * logAbsDet(Float64Array.from(w.dataSync()), 5);
      w.dispose();
      expect(Math.abs(expected)).toBeGreaterThan(0.1); // the perturbation changed the volume
      const logDet = layer.forwardLogDet(tf.zeros([2, 3, 4, 5]));
      const values = logDet.dataSync();
      logDet.dispose();
      for (const v of values) expect(v).toBeCloseTo(expected, 3);
    });

    it('recomputes the cached inverse after a variable update', async () => {
      await selectBackend(backend);
      const layer = make({ channels: 4, seed: 8 });
      const x = normal([3, 4], 4);
      tf.tidy(() => layer.inverse(layer.forward(x))); // fills the cache
      perturb(layer, 30);
      tf.tidy(() => {
        expect(maxAbsDiff(layer.inverse(layer.forward(x)), x)).toBeLessThan(1e-5);
      });
      x.dispose();
    });

    it('sends gradients to lower, upper and logS', async () => {
      await selectBackend(backend);
      const layer = make({ channels: 4, seed: 9 });
      perturb(layer, 40);
      const x = normal([2, 3, 3, 4], 5);
      const target = normal([2, 3, 3, 4], 6);
      const { grads, value } = tf.variableGrads(() => {
        const { y, logDet } = layer.forwardAndLogDet(x);
        return tf.add(tf.sum(tf.mul(y, target)), tf.sum(logDet)) as tf.Scalar;
      }, layer.trainableVariables());
      expect(Object.keys(grads)).toHaveLength(3);
      for (const g of Object.values(grads)) {
        expect(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]!)).toBeGreaterThan(1e-3);
        expect(tf.tidy(() => tf.all(tf.isFinite(g)).dataSync()[0])).toBe(1);
      }
      tf.dispose([x, target, value, ...Object.values(grads)]);
    });

    it('does not leak tensors over repeated calls', async () => {
      await selectBackend(backend);
      const layer = make({ channels: 4, seed: 11 });
      const x = normal([2, 2, 2, 4], 7);
      const once = () => {
        const f = layer.forwardAndLogDet(x);
        const b = layer.inverseAndLogDet(f.y);
        tf.dispose([f.y, f.logDet, b.x, b.logDet]);
      };
      once();
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) once();
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });
  });
}

describe('InvConv1x1 configuration and errors', () => {
  it('round-trips through getConfig/fromConfig to the same weight', async () => {
    await selectBackend('cpu');
    for (const lu of [true, false]) {
      const layer = make({ channels: 3, seed: 42, lu });
      const copy = bijectorFromConfig(layer.getConfig()) as InvConv1x1;
      created.push(copy);
      expect(copy).toBeInstanceOf(InvConv1x1);
      expect(copy.getConfig()).toEqual({ type: 'InvConv1x1', channels: 3, seed: 42, lu });
      tf.tidy(() => {
        expect(maxAbsDiff(copy.weight(), layer.weight())).toBe(0);
      });
      expect(Object.keys(copy.variables()).sort()).toEqual(
        lu ? ['logS', 'lower', 'p', 'signS', 'upper'] : ['weight'],
      );
      expect(copy.trainableVariables()).toHaveLength(lu ? 3 : 0);
    }
  });

  it('the LU form P·L·U rebuilds the same orthogonal Q as the fixed variant', async () => {
    await selectBackend('cpu');
    // C = 7 makes partial pivoting permute rows, so a transposed P would show up here.
    const viaLu = make({ channels: 7, seed: 5, lu: true });
    const fixed = make({ channels: 7, seed: 5, lu: false });
    const p = viaLu.variables().p!.dataSync();
    let offDiagonal = 0;
    for (let i = 0; i < 7; i++) offDiagonal += 1 - p[i * 7 + i]!;
    expect(offDiagonal).toBeGreaterThan(0);
    tf.tidy(() => {
      expect(maxAbsDiff(viaLu.weight(), fixed.weight())).toBeLessThan(1e-6);
    });
  });

  it('different seeds give different weights', async () => {
    await selectBackend('cpu');
    const a = make({ channels: 3, seed: 1 });
    const b = make({ channels: 3, seed: 2 });
    tf.tidy(() => {
      expect(maxAbsDiff(a.weight(), b.weight())).toBeGreaterThan(1e-2);
    });
  });

  it('rejects wrong shapes and bad options', async () => {
    await selectBackend('cpu');
    const layer = make({ channels: 4, seed: 1 });
    tf.tidy(() => {
      expect(() => layer.forwardAndLogDet(tf.zeros([2, 3, 3, 5]))).toThrow(ShapeError);
      expect(() => layer.inverseAndLogDet(tf.zeros([2, 3, 4]))).toThrow(ShapeError);
      expect(() => layer.forwardShape([2, 4, 4, 3])).toThrow(/expects an NHWC input/);
    });
    expect(() => new InvConv1x1({ channels: 0, seed: 1 })).toThrow(ConfigError);
    expect(() => new InvConv1x1({ channels: 2.5, seed: 1 })).toThrow(ConfigError);
    expect(() => new InvConv1x1({ channels: 2, seed: 0.5 })).toThrow(ConfigError);
  });
});
