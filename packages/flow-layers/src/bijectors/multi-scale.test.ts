import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { withDataInit } from '../bijector.js';
import { ShapeError } from '../errors.js';
import { checkInverse, perturbVariables, seededNormal } from '../testing/index.js';
import { batteryOnBackends, selectBackend } from '../testing/test-support/on-backends.js';
import { ActNorm, isDataInitialised } from './act-norm.js';
import { Chain } from './chain.js';
import { flattenNchw, MultiScale, unflattenNchw } from './multi-scale.js';
import { Reverse, Shuffle } from './permutation.js';
import { Squeeze } from './squeeze.js';

/** A small invertible level flow on C channels with a non-zero log-det once perturbed. */
function level(channels: number, seed: number): Chain {
  return new Chain([new ActNorm({ shape: [channels] }), new Shuffle({ size: channels, seed })]);
}

describe('MultiScale', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  it('gives the spec 3.1 shapes for RGB and grey 32x32 with 3 levels', () => {
    const rgb = MultiScale.levelShapes([7, 32, 32, 3], 3);
    expect(rgb.map((s) => s.flow)).toEqual([
      [7, 16, 16, 12],
      [7, 8, 8, 24],
      [7, 4, 4, 48],
    ]);
    expect(MultiScale.latentShapes([7, 32, 32, 3], 3)).toEqual([
      [7, 16, 16, 6],
      [7, 8, 8, 12],
      [7, 4, 4, 48],
    ]);
    const dims = MultiScale.latentShapes([1, 32, 32, 3], 3).map(([, h, w, c]) => h * w * c);
    expect(dims).toEqual([1536, 768, 768]);
    const grey = MultiScale.latentShapes([1, 32, 32, 1], 3).map(([, h, w, c]) => h * w * c);
    expect(grey).toEqual([512, 256, 256]);
    expect(() => MultiScale.levelShapes([1, 12, 12, 1], 3)).toThrow(/divisible by 8/);
  });

  it('flattens latents in NCHW order (c·H·W + h·W + w)', () => {
    const [b, h, w, c] = [2, 2, 3, 4];
    const x = seededNormal([b, h, w, c], 1);
    const flat = flattenNchw(x as tf.Tensor4D).dataSync();
    const xs = x.dataSync();
    for (let n = 0; n < b; n++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++)
          for (let k = 0; k < c; k++) {
            expect(flat[n * c * h * w + k * h * w + i * w + j]).toBe(
              xs[((n * h + i) * w + j) * c + k],
            );
          }
    const back = unflattenNchw(tf.tensor(flat, [b, h * w * c]), [b, h, w, c]);
    expect(Array.from(back.dataSync())).toEqual(Array.from(xs));
  });

  it('forwardLevels = squeeze → level flow → factor out the FIRST half of the channels', () => {
    const ms = new MultiScale({ levels: [level(8, 1), level(16, 2)] });
    perturbVariables(ms, 3, 0.3);
    const x = seededNormal([2, 4, 4, 2], 4);
    const { latents, logDets } = ms.forwardLevels(x);

    const squeeze = new Squeeze();
    const l0 = ms.levels[0]!.forwardAndLogDet(squeeze.forward(x));
    const z0 = tf.slice(l0.y, [0, 0, 0, 0], [-1, -1, -1, 4]);
    const h1 = tf.slice(l0.y, [0, 0, 0, 4], [-1, -1, -1, 4]);
    const l1 = ms.levels[1]!.forwardAndLogDet(squeeze.forward(h1));
    expect(latents.map((z) => z.shape)).toEqual([
      [2, 2, 2, 4],
      [2, 1, 1, 16],
    ]);
    expect(Array.from(latents[0]!.dataSync())).toEqual(Array.from(z0.dataSync()));
    expect(Array.from(latents[1]!.dataSync())).toEqual(Array.from(l1.y.dataSync()));
    expect(Array.from(logDets[0]!.dataSync())).toEqual(Array.from(l0.logDet.dataSync()));
    expect(Array.from(logDets[1]!.dataSync())).toEqual(Array.from(l1.logDet.dataSync()));
    // The per-level log-dets are not trivially zero here, so the sum below means something.
    expect(Math.abs(logDets[0]!.dataSync()[0]!)).toBeGreaterThan(0.1);

    const { y, logDet } = ms.forwardAndLogDet(x);
    expect(y.shape).toEqual([2, 32]);
    const expectedY = tf.concat([flattenNchw(latents[0]!), flattenNchw(latents[1]!)], 1);
    expect(Array.from(y.dataSync())).toEqual(Array.from(expectedY.dataSync()));
    const sum = tf.add(logDets[0]!, logDets[1]!).dataSync();
    expect(Array.from(logDet.dataSync())).toEqual(Array.from(sum).map((v) => expect.closeTo(v, 5)));
  });

  it('inverseLevels rebuilds x from the latents, with log-det −ΣF_k', () => {
    const ms = new MultiScale({ levels: [level(4, 1), level(8, 2), level(16, 3)] });
    perturbVariables(ms, 5, 0.3);
    const x = seededNormal([2, 8, 8, 1], 6);
    const { latents, logDets } = ms.forwardLevels(x);
    const { x: back, logDet } = ms.inverseLevels(latents);
    const err = tf.max(tf.abs(tf.sub(back, x))).dataSync()[0]!;
    expect(err).toBeLessThan(1e-5);
    const total = tf.addN(logDets).dataSync();
    expect(Array.from(logDet.dataSync())).toEqual(
      Array.from(total).map((v) => expect.closeTo(-v, 4)),
    );
    expect(() => ms.inverseLevels(latents.slice(0, 2))).toThrow(/needs 3 latents/);
    expect(() => ms.inverseLevels([latents[0]!, latents[2]!, latents[1]!])).toThrow(ShapeError);
  });

  it('data-initialises every level in forward order', () => {
    const ms = new MultiScale({ levels: [level(4, 1), level(8, 2)] });
    withDataInit(() => ms.forward(tf.add(tf.mul(seededNormal([8, 4, 4, 1], 2), 3), 1)));
    const norms = ms.levels.map((l) => (l as Chain).bijectors[0]!);
    expect(norms.every(isDataInitialised)).toBe(true);
  });

  it('infers the image shape for the flat inverse, or asks for eventShape when ambiguous', () => {
    const ms = new MultiScale({ levels: [level(4, 1), level(8, 2)] });
    expect(ms.inverseShape([3, 16])).toEqual([3, 4, 4, 1]);
    const loose = new MultiScale({ levels: [new Reverse(), new Reverse()] });
    // D = 64: 4x4x4 and 8x8x1 both fit levels that accept any channel count.
    expect(() => loose.inverseShape([1, 64])).toThrow(/eventShape/);
    const pinned = new MultiScale({
      levels: [new Reverse(), new Reverse()],
      eventShape: [8, 8, 1],
    });
    expect(pinned.inverseShape([1, 64])).toEqual([1, 8, 8, 1]);
    const x = seededNormal([2, 8, 8, 1], 1);
    checkInverse(pinned, x);
    expect(() => pinned.forward(seededNormal([2, 4, 4, 4], 1))).toThrow(/built for NHWC inputs/);
  });

  it('names variables by level and nests configs', () => {
    const ms = new MultiScale({ levels: [level(4, 1), level(8, 2)] });
    expect(Object.keys(ms.variables())).toEqual([
      '0.0.loc',
      '0.0.logs',
      '0.1.permutation',
      '1.0.loc',
      '1.0.logs',
      '1.1.permutation',
    ]);
    expect((ms.getConfig().levels as unknown[]).length).toBe(2);
  });
});

const twoLevels = {
  badInputShapes: [
    [2, 4, 4, 2],
    [2, 6, 6, 1],
    [2, 16],
  ],
  badOutputShapes: [
    [2, 15],
    [2, 4, 4, 1],
  ],
};
batteryOnBackends(
  'MultiScale, 2 levels of Chain(ActNorm, Shuffle), [2,4,4,1]',
  () => new MultiScale({ levels: [level(4, 1), level(8, 2)] }),
  [2, 4, 4, 1],
  twoLevels,
);
batteryOnBackends(
  'MultiScale, 2 levels of Chain(ActNorm, Shuffle), [1,4,4,2], data init',
  () => new MultiScale({ levels: [level(8, 3), level(16, 4)] }),
  [1, 4, 4, 2],
  { dataInit: true, badInputShapes: [[1, 4, 4, 1]], badOutputShapes: [[1, 31]] },
);
batteryOnBackends(
  'MultiScale, 3 levels, [1,8,8,1], eventShape set',
  () => new MultiScale({ levels: [level(4, 5), level(8, 6), level(16, 7)], eventShape: [8, 8, 1] }),
  [1, 8, 8, 1],
  { badInputShapes: [[1, 4, 4, 4]], badOutputShapes: [[1, 65]] },
);
