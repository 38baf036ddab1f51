import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bijectorFromConfig, withDataInit } from '../bijector.js';
import { ConfigError } from '../errors.js';
import { seededNormal } from '../testing/index.js';
import { batteryOnBackends, selectBackend } from '../testing/test-support/on-backends.js';
import { ActNorm } from './act-norm.js';
import { Chain } from './chain.js';
import { Shuffle } from './permutation.js';
import { Reshape } from './reshape.js';
import { Squeeze } from './squeeze.js';

describe('Chain', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('applies bijectors in array order and sums log-dets', () => {
    // ActNorm over 1 channel, then squeeze: the reverse order would need an ActNorm over 4.
    const norm = new ActNorm({ shape: [1] });
    norm.logs.assign(tf.tensor1d([0.5]));
    const squeeze = new Squeeze();
    const chain = new Chain([norm, squeeze]);
    const x = seededNormal([2, 4, 4, 1], 1);
    const { y, logDet } = chain.forwardAndLogDet(x);
    const manual = squeeze.forward(norm.forward(x));
    expect(y.shape).toEqual([2, 2, 2, 4]);
    expect(Array.from(y.dataSync())).toEqual(Array.from(manual.dataSync()));
    expect(Array.from(logDet.dataSync())).toEqual([8, 8].map((v) => expect.closeTo(v, 5)));
    expect(chain.forwardShape([2, 4, 4, 1])).toEqual([2, 2, 2, 4]);
    expect(chain.inverseShape([2, 2, 2, 4])).toEqual([2, 4, 4, 1]);
  });

  it('prefixes variable names with the index and nests configs', () => {
    const chain = new Chain([
      new ActNorm({ shape: [3] }),
      new Shuffle({ size: 3, seed: 2 }),
      new ActNorm({ shape: [3] }),
    ]);
    expect(Object.keys(chain.variables())).toEqual([
      '0.loc',
      '0.logs',
      '1.permutation',
      '2.loc',
      '2.logs',
    ]);
    expect(chain.trainableVariables()).toHaveLength(4);
    const config = chain.getConfig();
    expect(config).toEqual({
      type: 'Chain',
      bijectors: [
        { type: 'ActNorm', shape: [3], eps: 0 },
        { type: 'Shuffle', size: 3, seed: 2 },
        { type: 'ActNorm', shape: [3], eps: 0 },
      ],
    });
    expect(bijectorFromConfig(config).getConfig()).toEqual(config);
    expect(() => new Chain([])).toThrow(ConfigError);
  });

  it('data-initialises children in forward order, each seeing the previous output', () => {
    const a = new ActNorm({ shape: [2] });
    const b = new ActNorm({ shape: [2] });
    const chain = new Chain([a, b]);
    withDataInit(() => chain.forward(tf.add(tf.mul(seededNormal([16, 2], 3), 4), 1)));
    // b saw already-normalised data, so it is (close to) the identity.
    for (const v of b.loc.dataSync()) expect(v).toBeCloseTo(0, 5);
    for (const v of b.logs.dataSync()) expect(v).toBeCloseTo(0, 5);
    expect(Math.abs(a.logs.dataSync()[0]!)).toBeGreaterThan(0.5);
  });
});

batteryOnBackends(
  'Chain(ActNorm, Shuffle, Squeeze, ActNorm, Reshape)',
  () =>
    new Chain([
      new ActNorm({ shape: [2] }),
      new Shuffle({ size: 2, seed: 5 }),
      new Squeeze(),
      new ActNorm({ shape: [8] }),
      new Reshape({ from: [2, 2, 8], to: [32] }),
    ]),
  [2, 4, 4, 2],
  {
    badInputShapes: [
      [2, 4, 4, 3],
      [2, 3, 4, 2],
    ],
    badOutputShapes: [
      [2, 31],
      [2, 2, 2, 8],
    ],
  },
);
