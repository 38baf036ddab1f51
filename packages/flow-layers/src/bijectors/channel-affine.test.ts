import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { Bijector } from '../bijector.js';
import { withDataInit } from '../bijector.js';
import { perturbVariables, relativeError, seededNormal } from '../testing/index.js';
import { selectBackend, TEST_BACKENDS, withFusion } from '../testing/test-support/on-backends.js';
import { ActNorm } from './act-norm.js';
import { Chain } from './chain.js';
import { forwardChannelAffineRun, inverseChannelAffineRun } from './channel-affine.js';
import { InvConv1x1 } from './inv-conv-1x1.js';
import { Shuffle } from './permutation.js';

/** y, log-det, and the gradient of Σ w·y + Σ log-det w.r.t. x and every trainable variable. */
function valuesAndGrads(chain: Chain, x: tf.Tensor, fast: boolean): Float32Array[] {
  return withFusion(fast, () =>
    tf.tidy(() => {
      const w = seededNormal(x.shape, 9);
      const vars = chain.trainableVariables();
      const { y, logDet } = chain.forwardAndLogDet(x);
      const loss = () => {
        const out = chain.forwardAndLogDet(x);
        return tf.add(tf.sum(tf.mul(out.y, w)), tf.sum(out.logDet)) as tf.Scalar;
      };
      const gx = tf.grad((xi: tf.Tensor) => {
        const out = chain.forwardAndLogDet(xi);
        return tf.add(tf.sum(tf.mul(out.y, w)), tf.sum(out.logDet)) as tf.Scalar;
      })(x);
      const { grads } = tf.variableGrads(loss, vars);
      return [y, logDet, gx, ...vars.map((v) => grads[v.name]!)].map(
        (t) => t.dataSync() as Float32Array,
      );
    }),
  );
}

describe('forwardChannelAffineRun (ActNorm → 1x1 conv as one matrix product)', () => {
  for (const backend of TEST_BACKENDS) {
    for (const lu of [true, false]) {
      for (const shape of [
        [3, 4, 4, 8],
        [5, 6],
      ]) {
        it(`equals the layer-by-layer chain on ${backend}, ${lu ? 'LU' : 'fixed'} 1x1 conv, [${shape}]`, async () => {
          await selectBackend(backend);
          const c = shape[shape.length - 1]!;
          const chain = new Chain([
            new ActNorm({ shape: [c] }),
            new InvConv1x1({ channels: c, seed: 3, lu }),
            new ActNorm({ shape: [c], eps: 1e-6 }),
          ]);
          perturbVariables(chain, 4, 0.3);
          const x = seededNormal(shape, 5);
          const before = tf.memory().numTensors;
          const fused = valuesAndGrads(chain, x, true);
          const plain = valuesAndGrads(chain, x, false);
          expect(tf.memory().numTensors).toBe(before);
          fused.forEach((values, i) => {
            expect(relativeError(values, plain[i]!), `output ${i}`).toBeLessThan(1e-5);
          });
          x.dispose();
          chain.dispose();
        });
      }
    }
  }

  it('covers exactly the affine run, and declines runs shorter than two', async () => {
    await selectBackend('cpu');
    const layers: Bijector[] = [
      new ActNorm({ shape: [4] }),
      new InvConv1x1({ channels: 4, seed: 1 }),
      new Shuffle({ size: 4, seed: 2 }),
      new ActNorm({ shape: [4] }),
    ];
    const x = seededNormal([2, 4], 1);
    withFusion(true, () => {
      const run = forwardChannelAffineRun(layers, 0, x);
      expect(run?.count).toBe(2);
      tf.dispose([run!.result.y, run!.result.logDet]);
      expect(forwardChannelAffineRun(layers, 2, x)).toBeNull(); // Shuffle is not offered as affine
      expect(forwardChannelAffineRun(layers, 3, x)).toBeNull(); // a single ActNorm
    });
    // The plain ops never fuse.
    expect(withFusion(false, () => forwardChannelAffineRun(layers, 0, x))).toBeNull();
    x.dispose();
  });

  it('leaves ActNorm to initialise itself from data (no fusion during the init pass)', async () => {
    await selectBackend('cpu');
    const norm = new ActNorm({ shape: [4] });
    const chain = new Chain([norm, new InvConv1x1({ channels: 4, seed: 1 })]);
    const x = tf.add(tf.mul(seededNormal([64, 4], 2), 3), 1);
    withFusion(true, () => withDataInit(() => chain.forward(x).dispose()));
    expect(norm.dataInitialised).toBe(true);
    // Initialised ActNorm output has per-channel mean 0: so does the fused output's preimage.
    const y = norm.forward(x);
    const mean = tf.mean(y, 0).dataSync();
    for (const m of mean) expect(Math.abs(m)).toBeLessThan(1e-5);
    tf.dispose([x, y]);
  });
});

describe('inverseChannelAffineRun (the fused run inverted as one product)', () => {
  for (const lu of [true, false]) {
    it(`recovers the input of the fused forward run, ${lu ? 'LU' : 'fixed'} 1x1 conv, and steps aside without fusion`, async () => {
      await selectBackend('cpu');
      const c = 6;
      const layers = [
        new ActNorm({ shape: [c] }),
        new InvConv1x1({ channels: c, seed: 7, lu }),
        new ActNorm({ shape: [c], eps: 1e-6 }),
        new Shuffle({ size: c, seed: 2 }),
      ];
      perturbVariables(new Chain(layers), 8, 0.3);
      const x = seededNormal([4, 3, 3, c], 9);
      const before = tf.memory().numTensors;
      withFusion(true, () => {
        const run = forwardChannelAffineRun(layers, 0, x)!;
        expect(run.count).toBe(3);
        const back = inverseChannelAffineRun(layers, 0, run.count, run.result.y)!;
        expect(back.shape).toEqual(x.shape);
        expect(relativeError(back.dataSync(), x.dataSync() as Float32Array)).toBeLessThan(1e-5);
        // A run that reaches a bijector without an affine form does not fuse.
        expect(inverseChannelAffineRun(layers, 1, 3, run.result.y)).toBeNull();
        tf.dispose([run.result.y, run.result.logDet, back]);
      });
      withFusion(false, () => {
        expect(inverseChannelAffineRun(layers, 0, 3, x)).toBeNull();
      });
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
      for (const layer of layers) layer.dispose();
    });
  }
});
