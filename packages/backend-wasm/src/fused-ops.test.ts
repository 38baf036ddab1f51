import {
  ActNorm,
  AdditiveCoupling,
  AffineCoupling,
  type Bijector,
  Chain,
  ConvCouplingNet,
  DenseCouplingNet,
  fusedOps,
  InvConv1x1,
  withDataInit,
} from '@hierglow/flow-layers';
import {
  bijectorBattery,
  perturbVariables,
  relativeError,
  seededNormal,
} from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from './backend.js';
import { withFastPaths } from './fast-paths.js';
import { WASM_FUSED_OPS } from './fused-ops.js';

/** A Glow step on NHWC images: ActNorm → LU 1x1 conv → affine coupling with a conv net. */
function imageStep(c: number, seed: number): Chain {
  return new Chain([
    new ActNorm({ shape: [c] }),
    new InvConv1x1({ channels: c, seed }),
    new AffineCoupling({
      channels: c,
      net: new ConvCouplingNet({ inChannels: c / 2, outChannels: c, hidden: 8, seed: seed + 1 }),
    }),
  ]);
}

/** A dense step on `[B, D]` vectors: ActNorm → fixed 1x1 conv → additive coupling. */
function vectorStep(d: number, seed: number): Chain {
  return new Chain([
    new ActNorm({ shape: [d] }),
    new InvConv1x1({ channels: d, seed, lu: false }),
    new AdditiveCoupling({
      channels: d,
      net: new DenseCouplingNet({ inFeatures: d / 2, outFeatures: d / 2, hidden: 8, seed }),
    }),
  ]);
}

/** y, log-det, and the gradients of Σ w·y + Σ log-det w.r.t. x and every trainable variable. */
function valuesAndGrads(flow: Bijector, x: tf.Tensor, fast: boolean): Float32Array[] {
  return withFastPaths(fast, () =>
    tf.tidy(() => {
      const w = seededNormal(x.shape, 9);
      const objective = (input: tf.Tensor) => {
        const out = flow.forwardAndLogDet(input);
        return tf.add(tf.sum(tf.mul(out.y, w)), tf.sum(out.logDet)) as tf.Scalar;
      };
      const { y, logDet } = flow.forwardAndLogDet(x);
      const dx = tf.grad(objective)(x);
      const vars = flow.trainableVariables();
      const { grads } = tf.variableGrads(() => objective(x), vars);
      return [y, logDet, dx, ...vars.map((v) => grads[v.name]!)].map(
        (t) => t.dataSync() as Float32Array,
      );
    }),
  );
}

const cases: [string, () => Chain, number[]][] = [
  ['image step', () => imageStep(4, 3), [2, 3, 3, 4]],
  ['vector step', () => vectorStep(6, 5), [7, 6]],
];

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`the fused ops in flow-layers' bijectors [${backend}]`, () => {
    it('are the op set flow-layers uses once a backend is selected; with the fast paths off they neither fuse nor take a fast branch', async () => {
      await selectBackend(backend);
      expect(fusedOps()).toBe(WASM_FUSED_OPS);
      expect(fusedOps().fuse).toBe(true);
      expect(withFastPaths(false, () => fusedOps().fuse)).toBe(false);
    });

    for (const [name, make, shape] of cases) {
      it(`give the plain ops' values and gradients (rtol 1e-5): ${name}`, async () => {
        await selectBackend(backend);
        const flow = make();
        const x = seededNormal(shape, 4);
        withDataInit(() => tf.dispose(flow.forward(x)));
        // Moved off the initial weights, but not so far that σ underflows (where the fused
        // coupling clamps log σ at the smallest normal float32 and the plain one does not).
        perturbVariables(flow, 6, 0.05);
        const before = tf.memory().numTensors;
        const fast = valuesAndGrads(flow, x, true);
        expect(tf.memory().numTensors).toBe(before);
        const plain = valuesAndGrads(flow, x, false);
        fast.forEach((values, i) => {
          expect(relativeError(values, plain[i]!), `output ${i}`).toBeLessThan(1e-5);
        });
        x.dispose();
        flow.dispose();
      });
    }
  });
}

// flow-layers' own tests run on the plain ops; these run its battery on the fused ones.
for (const [name, make, shape] of cases) {
  describe(`${name} battery on wasm with the fused ops`, () => {
    for (const c of bijectorBattery(name, make, shape, { dataInit: true })) {
      it(c.name, async () => {
        await selectBackend('wasm');
        await c.run();
      });
    }
  });
}
