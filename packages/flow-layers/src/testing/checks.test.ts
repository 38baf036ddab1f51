import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Bijector,
  type BijectorConfig,
  type ForwardResult,
  type InverseResult,
} from '../bijector.js';
import { ActNorm } from '../bijectors/act-norm.js';
import {
  bijectorBattery,
  checkBadInputRejected,
  checkConfigRoundTrip,
  checkFinite,
  checkGradients,
  checkInverse,
  checkJacobianLogDet,
  checkNoTensorLeak,
  checkShapes,
  seededNormal,
} from './index.js';
import { selectBackend, TEST_BACKENDS } from './test-support/on-backends.js';

beforeAll(async () => {
  await selectBackend('cpu');
});

/** y = a·x + b·x³ elementwise: a smooth nonlinear bijection (a, b > 0) with a known log-det. */
class Cubic extends Bijector {
  readonly type = 'TestCubic';
  constructor(
    private readonly a = 0.7,
    private readonly b = 0.2,
    private readonly flaw: 'none' | 'logdet-sign' | 'leak' | 'no-inverse-logdet' = 'none',
  ) {
    super();
  }
  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    if (this.flaw === 'leak') tf.add(x, 1); // a tensor nobody disposes
    return tf.tidy(() => {
      const y = tf.add(tf.mul(x, this.a), tf.mul(tf.pow(x, 3), this.b));
      const deriv = tf.add(this.a, tf.mul(tf.square(x), 3 * this.b));
      let logDet = tf.sum(tf.reshape(tf.log(deriv), [x.shape[0]!, -1]), 1) as tf.Tensor1D;
      if (this.flaw === 'logdet-sign') logDet = tf.neg(logDet);
      return { y, logDet };
    });
  }
  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    // Newton iterations on a·x + b·x³ = y, in JS (tiny tensors only).
    const ys = y.dataSync();
    const xs = new Float32Array(ys.length);
    for (let i = 0; i < ys.length; i++) {
      let x = ys[i]! / this.a;
      for (let k = 0; k < 60; k++)
        x -= (this.a * x + this.b * x ** 3 - ys[i]!) / (this.a + 3 * this.b * x * x);
      xs[i] = x;
    }
    const x = tf.tensor(xs, y.shape);
    const { logDet } = this.forwardAndLogDet(x);
    return {
      x,
      logDet: this.flaw === 'no-inverse-logdet' ? logDet : (tf.neg(logDet) as tf.Tensor1D),
    };
  }
  getConfig(): BijectorConfig {
    return { type: this.type };
  }
}

describe('testing kit', () => {
  it('accepts a correct nonlinear bijection', () => {
    const x = seededNormal([2, 3, 2], 3);
    const b = new Cubic();
    checkInverse(b, x);
    checkJacobianLogDet(b, x);
    checkShapes(b, x);
    checkFinite(b, x);
  });

  it('checkJacobianLogDet catches a wrong log-det', () => {
    const x = seededNormal([2, 3, 2], 3);
    expect(() => checkJacobianLogDet(new Cubic(0.7, 0.2, 'logdet-sign'), x)).toThrow(
      /disagrees with the autodiff Jacobian/,
    );
    expect(() =>
      checkJacobianLogDet(new Cubic(0.7, 0.2, 'logdet-sign'), x, { method: 'finite-differences' }),
    ).toThrow(/disagrees with the finite-difference \(eps 0\.01\) Jacobian/);
  });

  it('checkJacobianLogDet catches a missing H*W factor in ActNorm-like log-dets', () => {
    class BadNorm extends ActNorm {
      override forwardAndLogDet(x: tf.Tensor): ForwardResult {
        const r = super.forwardAndLogDet(x);
        const logDet = tf.tidy(() => tf.div(r.logDet, 4) as tf.Tensor1D);
        r.logDet.dispose();
        return { y: r.y, logDet };
      }
    }
    const b = new BadNorm({ shape: [2] });
    b.logs.assign(tf.tensor1d([0.3, -0.2]));
    const x = seededNormal([1, 2, 2, 2], 4);
    expect(() => checkJacobianLogDet(b, x)).toThrow(/log-det disagrees/);
  });

  it('checkInverse catches log-dets that do not cancel', () => {
    const x = seededNormal([2, 4], 5);
    expect(() => checkInverse(new Cubic(0.7, 0.2, 'no-inverse-logdet'), x)).toThrow(
      /do not cancel/,
    );
  });

  it('checkInverse catches a wrong inverse', () => {
    const b = new ActNorm({ shape: [3] });
    b.logs.assign(tf.tensor1d([0.5, 0.5, 0.5]));
    const wrong = Object.assign(Object.create(Object.getPrototypeOf(b)), b) as ActNorm;
    wrong.inverseAndLogDet = (y: tf.Tensor) => ({
      x: tf.clone(y),
      logDet: tf.neg(b.forwardLogDet(y)) as tf.Tensor1D,
    });
    expect(() => checkInverse(wrong, seededNormal([2, 3], 6))).toThrow(/differs from x/);
  });

  it('checkNoTensorLeak catches a leak', () => {
    const b = new Cubic(0.7, 0.2, 'leak');
    const x = seededNormal([2, 2], 1);
    const run = (bij: Bijector) => () => {
      const { y, logDet } = bij.forwardAndLogDet(x);
      tf.dispose([y, logDet]);
    };
    expect(() => checkNoTensorLeak(run(b))).toThrow(/leaked/);
    expect(() => checkNoTensorLeak(run(new Cubic()))).not.toThrow();
  });

  it('checkBadInputRejected requires a ShapeError', () => {
    const norm = new ActNorm({ shape: [3] });
    checkBadInputRejected(norm, [[2, 4], [3]]);
    checkBadInputRejected(norm, [], { badOutputShapes: [[2, 2]] });
    expect(() => checkBadInputRejected(new Cubic(), [[2, 5]])).toThrow(/forward accepted an input/);
    expect(() => checkBadInputRejected(new Cubic(), [], { badOutputShapes: [[2, 5]] })).toThrow(
      /inverse accepted an input/,
    );
  });

  it('checkGradients and checkConfigRoundTrip pass for ActNorm', () => {
    const norm = new ActNorm({ shape: [2], eps: 1e-8 });
    norm.logs.assign(tf.tensor1d([0.1, -0.4]));
    const x = seededNormal([3, 2, 2, 2], 2);
    checkGradients(norm, x);
    checkConfigRoundTrip(norm, x);
  });

  it('checkConfigRoundTrip fails for an unregistered type', () => {
    expect(() => checkConfigRoundTrip(new Cubic(), seededNormal([1, 2], 1))).toThrow(
      /Unknown bijector type/,
    );
  });

  it('a battery case fails when its check fails', () => {
    const cases = bijectorBattery('broken', () => new Cubic(0.7, 0.2, 'logdet-sign'), [2, 3], {
      skip: ['config round trip'],
    });
    const jac = cases.find((c) => c.name.includes('Jacobian'))!;
    expect(() => jac.run()).toThrow(/log-det disagrees/);
    expect(cases.map((c) => c.name)).not.toContain(expect.stringContaining('round trip'));
  });
});

for (const backend of TEST_BACKENDS) {
  describe(`ActNorm battery on ${backend}`, () => {
    beforeAll(async () => {
      await selectBackend(backend);
    });
    for (const c of bijectorBattery(
      'ActNorm per channel',
      () => new ActNorm({ shape: [2] }),
      [2, 3, 3, 2],
      {
        badInputShapes: [[2, 3, 3, 3], [2]],
      },
    )) {
      it(c.name, c.run);
    }
    for (const c of bijectorBattery(
      'ActNorm per dimension (eps 1e-8, data init)',
      () => new ActNorm({ shape: [6], eps: 1e-8 }),
      [3, 6],
      { dataInit: true, badInputShapes: [[3, 5]] },
    )) {
      it(c.name, c.run);
    }
  });
}
