import { ShapeError } from '@hierglow/flow-layers';
import { seededNormal } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.js';
import { withFastPaths } from '../fast-paths.js';
import { scaleColumns } from './scale-columns.js';
import { relativeError } from './test-support/numeric.js';

/** w', b' and the gradients of Σ u ⊙ w' + Σ v ⊙ b' with respect to w, b and logs. */
function run(shape: number[], factor: number, fast: boolean): Float32Array[] {
  return withFastPaths(fast, () =>
    tf.tidy(() => {
      const c = shape[shape.length - 1]!;
      const w = seededNormal(shape, 1);
      const b = seededNormal([c], 2) as tf.Tensor1D;
      const logs = tf.mul(seededNormal([c], 3), 0.3) as tf.Tensor1D;
      const u = seededNormal(shape, 4);
      const v = seededNormal([c], 5);
      const f = (wi: tf.Tensor, bi: tf.Tensor, li: tf.Tensor) => {
        const out = scaleColumns(wi, bi as tf.Tensor1D, li as tf.Tensor1D, factor);
        return tf.add(tf.sum(tf.mul(out.w, u)), tf.sum(tf.mul(out.b, v))) as tf.Scalar;
      };
      const out = scaleColumns(w, b, logs, factor);
      const grads = tf.grads(f)([w, b, logs]);
      return [out.w, out.b, ...grads].map((t) => t.dataSync() as Float32Array);
    }),
  );
}

describe('scaleColumns', () => {
  for (const [shape, factor] of [
    [[3, 3, 4, 8], 1],
    [[1, 1, 16, 16], 1],
    [[3, 3, 8, 4], 3],
  ] as const) {
    it(`wasm's JavaScript kernels give the taped ops' values and gradients: [${shape}], factor ${factor}`, async () => {
      await selectBackend('wasm');
      // The fast path runs hierglow's kernels (registered by selectBackend), not the taped ops.
      expect(tf.getKernel('HierglowScaleColumns', 'wasm')).toBeDefined();
      expect(tf.getKernel('HierglowScaleColumnsGrad', 'wasm')).toBeDefined();
      const before = tf.memory().numTensors;
      const ours = run([...shape], factor, true);
      const taped = run([...shape], factor, false);
      expect(tf.memory().numTensors).toBe(before);
      ['w′', 'b′', 'd/dw', 'd/db', 'd/dlogs'].forEach((name, i) => {
        expect(relativeError(ours[i]!, taped[i]!), name).toBeLessThan(1e-6);
      });
    });
  }

  it('rejects a bias or log-scale that does not match the last axis', async () => {
    await selectBackend('cpu');
    tf.tidy(() => {
      expect(() => scaleColumns(tf.zeros([3, 3, 2, 4]), tf.zeros([3]), tf.zeros([4]), 1)).toThrow(
        ShapeError,
      );
    });
  });
});
