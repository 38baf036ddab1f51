import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConvCouplingNet } from '../nets/conv-coupling-net.js';
import { perturbVariables, seededNormal } from '../testing/index.js';
import { selectBackend, withFusion } from '../testing/test-support/on-backends.js';
import { ActNorm } from './act-norm.js';
import { Chain } from './chain.js';
import { AffineCoupling } from './coupling.js';
import { InvConv1x1 } from './inv-conv-1x1.js';
import { reversibleVariableGrads, type VariableGradients } from './reversible.js';
import { Squeeze } from './squeeze.js';

/** Squeeze, then `steps` Glow steps (ActNorm → LU 1x1 conv → affine coupling), moved off init. */
function glowChain(steps: number, seed: number): Chain {
  const layers = [new Squeeze({ factor: 2 }) as Squeeze | ActNorm | InvConv1x1 | AffineCoupling];
  for (let s = 0; s < steps; s++) {
    layers.push(new ActNorm({ shape: [4] }));
    layers.push(new InvConv1x1({ channels: 4, seed: seed + s, lu: true }));
    const net = new ConvCouplingNet({
      inChannels: 2,
      outChannels: 4,
      hidden: 6,
      seed: seed + 50 + s,
    });
    layers.push(new AffineCoupling({ channels: 4, net }));
  }
  const chain = new Chain(layers);
  // Zero-initialised last convolutions would make most gradients vanish: move every weight.
  perturbVariables(chain, seed + 99, 0.3);
  return chain;
}

/** A loss with a learned base: mean of −(log N(y; μ, 1) + logDet). */
function headLoss(mean: tf.Variable) {
  return (y: tf.Tensor, logDet: tf.Tensor1D) =>
    tf.tidy(() => {
      const rows = tf.reshape(tf.sub(y, mean), [y.shape[0]!, -1]);
      const logBase = tf.mul(tf.sum(tf.square(rows), 1), -0.5);
      return tf.neg(tf.mean(tf.add(logBase, logDet))) as tf.Scalar;
    });
}

function maxRelativeError(actual: VariableGradients, expected: VariableGradients): number {
  let worst = 0;
  for (const [name, g] of Object.entries(expected)) {
    const a = actual[name];
    expect(a, `gradient of ${name}`).toBeDefined();
    const err = tf.tidy(() => {
      const scale = tf.maximum(tf.max(tf.abs(g)), 1e-12);
      return tf.div(tf.max(tf.abs(tf.sub(a!, g))), scale).dataSync()[0]!;
    });
    worst = Math.max(worst, err);
  }
  return worst;
}

describe('reversible backprop', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  for (const fuse of [false, true]) {
    it(`gives autodiff's gradients for a Chain (fusion ${fuse ? 'on' : 'off'})`, () => {
      withFusion(fuse, () => {
        const chain = glowChain(4, 3);
        const mean = tf.variable(seededNormal([1, 2, 2, 4], 5, 0.1));
        const x = seededNormal([3, 4, 4, 1], 7, 0.5);
        const loss = headLoss(mean);
        const reference = tf.variableGrads(() => {
          const { y, logDet } = chain.forwardAndLogDet(x);
          return loss(y, logDet);
        }, [...chain.trainableVariables(), mean]);
        const before = tf.memory().numTensors;
        const reversible = reversibleVariableGrads(chain, x, loss, [mean]);
        const created = tf.memory().numTensors - before;
        // Only the value and one gradient per variable stay alive.
        expect(created).toBe(1 + Object.keys(reversible.grads).length);
        expect(Object.keys(reversible.grads).sort()).toEqual(Object.keys(reference.grads).sort());
        expect(reversible.value.dataSync()[0]).toBeCloseTo(reference.value.dataSync()[0]!, 4);
        expect(maxRelativeError(reversible.grads, reference.grads)).toBeLessThan(1e-4);
        tf.dispose([reference.value, reversible.value, x, mean]);
        tf.dispose(Object.values(reference.grads));
        tf.dispose(Object.values(reversible.grads));
        chain.dispose();
      });
    });
  }

  it('detects a wrong gradient: a head that is not differentiated changes the result', () => {
    const chain = glowChain(2, 11);
    const x = seededNormal([2, 4, 4, 1], 13, 0.5);
    const full = reversibleVariableGrads(
      chain,
      x,
      (y, logDet) =>
        tf.neg(
          tf.mean(tf.add(tf.mul(tf.sum(tf.reshape(tf.square(y), [2, -1]), 1), -0.5), logDet)),
        ) as tf.Scalar,
    );
    const logDetOnly = reversibleVariableGrads(
      chain,
      x,
      (_y, logDet) => tf.neg(tf.mean(logDet)) as tf.Scalar,
    );
    expect(maxRelativeError(logDetOnly.grads, full.grads)).toBeGreaterThan(1e-2);
    tf.dispose([full.value, logDetOnly.value, x]);
    tf.dispose([...Object.values(full.grads), ...Object.values(logDetOnly.grads)]);
    chain.dispose();
  });
});
