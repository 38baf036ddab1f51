import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bijectorFromConfig } from '../bijector.js';
import { seededNormal } from '../testing/index.js';
import { batteryOnBackends, selectBackend } from '../testing/test-support/on-backends.js';
import { ActNorm } from './act-norm.js';
import { Invert } from './invert.js';

describe('Invert', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('swaps forward and inverse, log-dets included', () => {
    const norm = new ActNorm({ shape: [2] });
    norm.loc.assign(tf.tensor1d([0.3, -0.1]));
    norm.logs.assign(tf.tensor1d([0.5, -0.25]));
    const inv = new Invert(norm);
    const x = seededNormal([2, 3, 2], 1);
    const a = inv.forwardAndLogDet(x);
    const b = norm.inverseAndLogDet(x);
    expect(Array.from(a.y.dataSync())).toEqual(Array.from(b.x.dataSync()));
    expect(Array.from(a.logDet.dataSync())).toEqual(Array.from(b.logDet.dataSync()));
    expect(a.logDet.dataSync()[0]).toBeCloseTo(-3 * 0.25, 5);
    expect(Object.keys(inv.variables()).sort()).toEqual(['loc', 'logs']);
  });

  it('rebuilds from a nested config', () => {
    const inv = new Invert(new ActNorm({ shape: [3], eps: 1e-8 }));
    const rebuilt = bijectorFromConfig(JSON.parse(JSON.stringify(inv.getConfig())));
    expect(rebuilt).toBeInstanceOf(Invert);
    expect((rebuilt as Invert).bijector.getConfig()).toEqual({
      type: 'ActNorm',
      shape: [3],
      eps: 1e-8,
    });
  });
});

batteryOnBackends('Invert(ActNorm)', () => new Invert(new ActNorm({ shape: [2] })), [2, 3, 3, 2], {
  badInputShapes: [[2, 3, 3, 3]],
  badOutputShapes: [[2, 3, 3, 1]],
});
