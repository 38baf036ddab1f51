import { InvConv1x1 } from '@hierglow/flow-layers';
import { perturbVariables, seededNormal } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.js';
import { withFastPaths } from '../fast-paths.js';
import { relativeError } from './test-support/numeric.js';

/** W and the gradient of Σ u ⊙ W with respect to every trainable LU variable. */
function run(layer: InvConv1x1, fast: boolean): Float32Array[] {
  return withFastPaths(fast, () =>
    tf.tidy(() => {
      const c = layer.channels;
      const u = seededNormal([c, c], 7);
      const vars = layer.trainableVariables();
      const w = layer.weight();
      const { grads } = tf.variableGrads(
        () => tf.sum(tf.mul(layer.weight(), u)) as tf.Scalar,
        vars,
      );
      return [w, ...vars.map((v) => grads[v.name]!)].map((t) => t.dataSync() as Float32Array);
    }),
  );
}

describe('luWeight (the LU 1x1 conv weight as one op on wasm)', () => {
  for (const c of [4, 16, 48]) {
    it(`gives the taped ops' weight and gradients for C = ${c}`, async () => {
      await selectBackend('wasm');
      expect(tf.getKernel('HierglowLuWeight', 'wasm')).toBeDefined();
      const layer = new InvConv1x1({ channels: c, seed: 3, lu: true });
      perturbVariables(layer, 5, 0.2);
      const before = tf.memory().numTensors;
      const ours = run(layer, true);
      const taped = run(layer, false);
      expect(tf.memory().numTensors).toBe(before);
      ours.forEach((values, i) => {
        expect(relativeError(values, taped[i]!), `output ${i}`).toBeLessThan(1e-5);
      });
      layer.dispose();
    });
  }
});
