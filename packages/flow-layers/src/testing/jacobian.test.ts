/**
 * The exact (autodiff) Jacobian check with its default tolerances on the flows that the
 * finite-difference check used to fail (issue 16): a data-initialised Glow step and a trained
 * 2-D flow pass, and a log-det off by 1e-3 still fails.
 */
import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { Bijector, type BijectorConfig, type ForwardResult, withDataInit } from '../bijector.js';
import { ActNorm } from '../bijectors/act-norm.js';
import { Chain } from '../bijectors/chain.js';
import { AffineCoupling } from '../bijectors/coupling.js';
import { InvConv1x1 } from '../bijectors/inv-conv-1x1.js';
import { Reverse } from '../bijectors/permutation.js';
import { ConvCouplingNet } from '../nets/conv-coupling-net.js';
import { DenseCouplingNet } from '../nets/dense-coupling-net.js';
import {
  AUTODIFF_MAX_DIMENSION,
  checkJacobianLogDet,
  perturbVariables,
  seededNormal,
} from './index.js';
import { describeOnBackends } from './test-support/on-backends.js';

/** ActNorm → InvConv1x1 → AffineCoupling, data-initialised on small-scale inputs as pixels are. */
function glowStep(): Chain {
  const step = new Chain([
    new ActNorm({ shape: [2] }),
    new InvConv1x1({ channels: 2, seed: 3 }),
    new AffineCoupling({
      channels: 2,
      net: new ConvCouplingNet({ inChannels: 1, outChannels: 2, hidden: 8, seed: 4 }),
    }),
  ]);
  const init = seededNormal([16, 4, 4, 2], 11, 0.05);
  withDataInit(() => tf.dispose(step.forward(init)));
  init.dispose();
  perturbVariables(step, 12, 0.1);
  return step;
}

/** A 2-D flow of three affine couplings, trained on a ring by maximum likelihood. */
function trainedTwoDimensionalFlow(): Chain {
  const coupling = (seed: number) =>
    new AffineCoupling({
      channels: 2,
      net: new DenseCouplingNet({ inFeatures: 1, outFeatures: 2, hidden: 16, seed }),
    });
  const flow = new Chain([
    new ActNorm({ shape: [2] }),
    coupling(1),
    new Reverse(),
    coupling(2),
    new Reverse(),
    coupling(3),
  ]);
  const ring = (n: number, seed: number) =>
    tf.tidy(() => {
      const angle = tf.mul(seededNormal([n, 1], seed), Math.PI);
      const radius = tf.add(2, tf.mul(seededNormal([n, 1], seed + 1), 0.1));
      return tf.concat([tf.mul(radius, tf.cos(angle)), tf.mul(radius, tf.sin(angle))], 1);
    });
  const first = ring(64, 100);
  withDataInit(() => tf.dispose(flow.forward(first)));
  first.dispose();
  const optimizer = tf.train.adam(0.01);
  for (let step = 0; step < 150; step++) {
    const batch = ring(64, 200 + 2 * step);
    const loss = optimizer.minimize(
      () => {
        const { y, logDet } = flow.forwardAndLogDet(batch);
        return tf.mean(tf.sub(tf.mul(tf.sum(tf.square(y), 1), 0.5), logDet)) as tf.Scalar;
      },
      true,
      flow.trainableVariables(),
    );
    loss!.dispose();
    batch.dispose();
  }
  optimizer.dispose();
  return flow;
}

/** A correct bijector whose reported log-det is shifted by `offset`. */
class ShiftedLogDet extends Bijector {
  readonly type = 'TestShiftedLogDet';
  constructor(
    private readonly inner: Bijector,
    private readonly offset: number,
  ) {
    super();
  }
  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    return tf.tidy(() => {
      const { y, logDet } = this.inner.forwardAndLogDet(x);
      return { y, logDet: tf.add(logDet, this.offset) as tf.Tensor1D };
    });
  }
  getConfig(): BijectorConfig {
    return { type: this.type };
  }
}

describeOnBackends('checkJacobianLogDet with default tolerances', () => {
  it('passes a data-initialised ActNorm → InvConv1x1 → AffineCoupling step on [2, 4, 4, 2]', () => {
    const step = glowStep();
    const x = seededNormal([2, 4, 4, 2], 5, 0.05);
    try {
      // The log-det is far from 0 (the data init scales by ~20 per value), so the check is not vacuous.
      const logDet = tf.tidy(() => step.forwardLogDet(x).dataSync());
      expect(Math.abs(logDet[0]!)).toBeGreaterThan(10);
      checkJacobianLogDet(step, x);
      // A log-det off by 1e-3 is caught.
      expect(() => checkJacobianLogDet(new ShiftedLogDet(step, 1e-3), x)).toThrow(
        /log-det disagrees with the autodiff Jacobian .*off by 0\.00/,
      );
    } finally {
      x.dispose();
      step.dispose();
    }
  });

  it('passes a trained 2-D flow and fails it with the log-det off by 1e-3 or -1e-3', () => {
    const flow = trainedTwoDimensionalFlow();
    const x = seededNormal([8, 2], 7, 1.5);
    try {
      checkJacobianLogDet(flow, x);
      for (const offset of [1e-3, -1e-3]) {
        expect(() => checkJacobianLogDet(new ShiftedLogDet(flow, offset), x)).toThrow(
          /log-det disagrees/,
        );
      }
    } finally {
      x.dispose();
      flow.dispose();
    }
  });

  it('leaves no tensors behind and chunks the autodiff rows', () => {
    const step = glowStep();
    const x = seededNormal([1, 4, 4, 2], 8, 0.05);
    try {
      checkJacobianLogDet(step, x);
      const before = tf.memory().numTensors;
      checkJacobianLogDet(step, x);
      checkJacobianLogDet(step, x, { method: 'finite-differences', atol: 0.5 });
      expect(tf.memory().numTensors).toBe(before);
    } finally {
      x.dispose();
      step.dispose();
    }
    expect(AUTODIFF_MAX_DIMENSION).toBeGreaterThanOrEqual(32);
  });
});
