import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Bijector } from '../bijector.js';
import { ConvCouplingNet } from '../nets/conv-coupling-net.js';
import { DenseCouplingNet } from '../nets/dense-coupling-net.js';
import { selectBackend } from '../testing/test-support/on-backends.js';
import { ActNorm } from './act-norm.js';
import { Chain } from './chain.js';
import { AdditiveCoupling, AffineCoupling } from './coupling.js';
import { InvConv1x1 } from './inv-conv-1x1.js';
import { Reverse, Shuffle } from './permutation.js';
import { Squeeze } from './squeeze.js';

/** Building a layer and disposing it must leave no tensor behind (long-lived processes build many). */
const factories: [string, () => Bijector][] = [
  ['ActNorm', () => new ActNorm({ shape: [6] })],
  ['InvConv1x1 (LU)', () => new InvConv1x1({ channels: 6, seed: 1 })],
  ['InvConv1x1 (fixed)', () => new InvConv1x1({ channels: 6, seed: 1, lu: false })],
  ['Shuffle', () => new Shuffle({ size: 6, seed: 1 })],
  ['Reverse', () => new Reverse()],
  ['Squeeze', () => new Squeeze()],
  [
    'AffineCoupling + ConvCouplingNet',
    () =>
      new AffineCoupling({
        channels: 6,
        net: new ConvCouplingNet({ inChannels: 3, outChannels: 6, hidden: 8, seed: 1 }),
      }),
  ],
  [
    'AdditiveCoupling + DenseCouplingNet',
    () =>
      new AdditiveCoupling({
        channels: 6,
        net: new DenseCouplingNet({ inFeatures: 3, outFeatures: 3, hidden: 8, seed: 1 }),
      }),
  ],
  [
    'Chain',
    () => new Chain([new ActNorm({ shape: [6] }), new InvConv1x1({ channels: 6, seed: 2 })]),
  ],
];

describe('construct then dispose leaves no tensors', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });
  for (const [name, make] of factories) {
    it(name, () => {
      make().dispose(); // warm-up: lazily created module-level constants are not leaks
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) make().dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
