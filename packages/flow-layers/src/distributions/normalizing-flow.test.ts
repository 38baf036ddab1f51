import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { ActNorm } from '../bijectors/act-norm.js';
import { Chain } from '../bijectors/chain.js';
import { AffineCoupling } from '../bijectors/coupling.js';
import { Reverse } from '../bijectors/permutation.js';
import { Squeeze } from '../bijectors/squeeze.js';
import { ShapeError } from '../errors.js';
import { DenseCouplingNet } from '../nets/dense-coupling-net.js';
import {
  checkJacobianLogDet,
  checkNoTensorLeak,
  perturbVariables,
  seededNormal,
} from '../testing/index.js';
import { describeOnBackends } from '../testing/test-support/on-backends.js';
import { NormalizingFlow } from './normalizing-flow.js';
import { StandardNormal } from './standard-normal.js';

/** ActNorm → coupling → reverse → coupling on 2-D points, perturbed away from the identity. */
function twoDimensionalFlow(): NormalizingFlow {
  const coupling = (seed: number) =>
    new AffineCoupling({
      channels: 2,
      net: new DenseCouplingNet({ inFeatures: 1, outFeatures: 2, hidden: 8, seed }),
    });
  const bijector = new Chain([
    new ActNorm({ shape: [2] }),
    coupling(1),
    new Reverse(),
    coupling(2),
  ]);
  perturbVariables(bijector, 3, 0.3);
  return new NormalizingFlow(new StandardNormal([2]), bijector);
}

describeOnBackends('NormalizingFlow', () => {
  it('is the Gaussian N(mu, sigma²) when the bijector is the affine map (x − mu)/sigma', () => {
    const norm = new ActNorm({ shape: [2] });
    const mu = [1.5, -0.5];
    const sigma = [2, 0.25];
    norm.loc.assign(tf.tensor1d(mu.map((m) => -m)));
    norm.logs.assign(tf.tensor1d(sigma.map((s) => -Math.log(s))));
    const flow = new NormalizingFlow(new StandardNormal([2]), norm);
    const points = [
      [0, 0],
      [1.5, -0.5],
      [-3, 1],
    ];
    const logProb = tf.tidy(() => flow.logProb(tf.tensor2d(points)).dataSync());
    points.forEach(([a, b], i) => {
      const expected =
        -0.5 * ((a! - mu[0]!) / sigma[0]!) ** 2 -
        0.5 * ((b! - mu[1]!) / sigma[1]!) ** 2 -
        Math.log(2 * Math.PI * sigma[0]! * sigma[1]!);
      expect(logProb[i]).toBeCloseTo(expected, 4);
    });
    // Samples have the Gaussian's moments.
    const samples = flow.sample(4000, 11);
    const [mean, variance] = tf.tidy(() => {
      const m = tf.moments(samples, 0);
      return [m.mean.dataSync(), m.variance.dataSync()];
    });
    samples.dispose();
    for (let c = 0; c < 2; c++) {
      expect(Math.abs(mean[c]! - mu[c]!)).toBeLessThan((4 * sigma[c]!) / Math.sqrt(4000));
      expect(Math.sqrt(variance[c]!) / sigma[c]!).toBeCloseTo(1, 1);
    }
    flow.dispose();
  });

  it('integrates to 1 over the plane for a nonlinear flow, whose bijector passes the exact Jacobian check', () => {
    const flow = twoDimensionalFlow();
    const points = seededNormal([4, 2], 5);
    checkJacobianLogDet(flow.bijector, points);
    points.dispose();
    // Midpoint rule on [−8, 8]² with 0.05 cells (the density is negligible outside).
    const h = 0.05;
    const n = 320;
    let mass = 0;
    for (let row = 0; row < n; row++) {
      const grid = new Float32Array(2 * n);
      for (let col = 0; col < n; col++) {
        grid[2 * col] = -8 + (col + 0.5) * h;
        grid[2 * col + 1] = -8 + (row + 0.5) * h;
      }
      const lp = tf.tidy(() => flow.logProb(tf.tensor2d(grid, [n, 2])).dataSync());
      for (const v of lp) mass += Math.exp(v) * h * h;
    }
    expect(mass).toBeCloseTo(1, 3);
    flow.dispose();
  });

  it('sampleAndLogProb gives the same samples as sample and the log-density logProb gives them', () => {
    const flow = twoDimensionalFlow();
    const { x, logProb } = flow.sampleAndLogProb(64, 21);
    const again = flow.sample(64, 21);
    const [xs, lp, xs2, lpForward] = tf.tidy(() => [
      x.dataSync(),
      logProb.dataSync(),
      again.dataSync(),
      flow.logProb(x).dataSync(),
    ]);
    expect(Array.from(xs2)).toEqual(Array.from(xs));
    expect(x.shape).toEqual([64, 2]);
    expect(logProb.shape).toEqual([64]);
    for (let i = 0; i < 64; i++) expect(lp[i]).toBeCloseTo(lpForward[i]!, 3);
    tf.dispose([x, logProb, again]);
    flow.dispose();
  });

  it('leaves no tensors behind, and gradients of the mean log-density reach every variable', () => {
    const flow = twoDimensionalFlow();
    const x = seededNormal([8, 2], 9);
    checkNoTensorLeak(() => flow.logProb(x).dispose(), { label: 'logProb' });
    checkNoTensorLeak(() => flow.sample(8, 1).dispose(), { label: 'sample' });
    checkNoTensorLeak(
      () => {
        const s = flow.sampleAndLogProb(8, 1);
        tf.dispose([s.x, s.logProb]);
      },
      { label: 'sampleAndLogProb' },
    );
    const before = tf.memory().numTensors;
    const { value, grads } = tf.variableGrads(
      () => tf.neg(tf.mean(flow.logProb(x))) as tf.Scalar,
      flow.trainableVariables(),
    );
    expect(Object.keys(grads).length).toBe(flow.trainableVariables().length);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
    flow.dispose();
  });

  it('maps image events through shape-changing bijectors, and refuses a base that does not fit', () => {
    const flow = new NormalizingFlow(new StandardNormal([2, 2, 4]), new Squeeze());
    expect(flow.eventShape).toEqual([4, 4, 1]);
    const x = flow.sample(3, 2);
    expect(x.shape).toEqual([3, 4, 4, 1]);
    const lp = tf.tidy(() => flow.logProb(x).dataSync());
    const direct = tf.tidy(() => new StandardNormal([4, 4, 1]).logProb(x).dataSync());
    for (let i = 0; i < 3; i++) expect(lp[i]).toBeCloseTo(direct[i]!, 4); // squeezing is volume-preserving
    x.dispose();
    let thrown: unknown;
    try {
      new NormalizingFlow(new StandardNormal([2, 2, 3]), new Squeeze());
    } catch (e) {
      thrown = e;
    }
    expect(ShapeError.isInstance(thrown)).toBe(true);
    expect((thrown as Error).message).toMatch(
      /NormalizingFlow: Squeeze cannot map to the base's event shape \[2, 2, 3\]/,
    );
    expect(() => new StandardNormal([2]).logProb(tf.zeros([2, 3]))).toThrow(/expects \[batch, 2\]/);
  });
});
