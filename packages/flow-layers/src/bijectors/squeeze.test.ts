import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { ShapeError } from '../errors.js';
import { seededNormal } from '../testing/index.js';
import { batteryOnBackends, selectBackend } from '../testing/test-support/on-backends.js';
import { Invert } from './invert.js';
import { Squeeze } from './squeeze.js';

/** Squeeze by a hand loop over the spec's index map: out[b,h,w,c·f²+i·f+j] = in[b,f·h+i,f·w+j,c]. */
function squeezeByLoop(values: Float32Array, [b, h, w, c]: number[], f: number): Float32Array {
  const ho = h! / f;
  const wo = w! / f;
  const co = c! * f * f;
  const out = new Float32Array(values.length);
  for (let n = 0; n < b!; n++)
    for (let y = 0; y < ho; y++)
      for (let x = 0; x < wo; x++)
        for (let ch = 0; ch < c!; ch++)
          for (let i = 0; i < f; i++)
            for (let j = 0; j < f; j++) {
              const src = ((n * h! + (f * y + i)) * w! + (f * x + j)) * c! + ch;
              const dst = ((n * ho + y) * wo + x) * co + ch * f * f + i * f + j;
              out[dst] = values[src]!;
            }
  return out;
}

describe('Squeeze', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });

  for (const [shape, factor] of [
    [[2, 4, 6, 3], 2],
    [[1, 6, 3, 2], 3],
  ] as Array<[number[], number]>) {
    it(`matches the spec's channel order 4c+2i+j (shape [${shape}], factor ${factor})`, () => {
      const x = seededNormal(shape, 11);
      const y = new Squeeze({ factor }).forward(x);
      const f = factor;
      expect(y.shape).toEqual([shape[0], shape[1]! / f, shape[2]! / f, shape[3]! * f * f]);
      expect(Array.from(y.dataSync())).toEqual(
        Array.from(squeezeByLoop(x.dataSync() as Float32Array, shape, f)),
      );
    });
  }

  it("is not TensorFlow's depth_to_space order (2i+j)·C + c when C > 1", () => {
    const x = tf.tensor4d([0, 1, 2, 3, 4, 5, 6, 7], [1, 2, 2, 2]); // value = 4i + 2j + c
    const y = Array.from(new Squeeze().forward(x).dataSync());
    // Ours: channel 4c + 2i + j holds in[i, j, c] = 4i + 2j + c.
    expect(y).toEqual([0, 2, 4, 6, 1, 3, 5, 7]);
  });

  it('rejects odd heights/widths and non-NHWC inputs with a ShapeError', () => {
    const s = new Squeeze();
    expect(() => s.forward(tf.zeros([1, 3, 4, 1]))).toThrow(ShapeError);
    expect(() => s.forward(tf.zeros([1, 4, 5, 1]))).toThrow(/divisible by 2/);
    expect(() => s.forward(tf.zeros([4, 4, 1]))).toThrow(/rank-4 NHWC/);
    expect(() => s.inverse(tf.zeros([1, 2, 2, 3]))).toThrow(/divisible by 4/);
  });

  it('unsqueeze = Invert(Squeeze) undoes it exactly', () => {
    const x = seededNormal([2, 4, 4, 3], 5);
    const unsqueeze = new Invert(new Squeeze());
    const back = unsqueeze.forward(new Squeeze().forward(x));
    expect(Array.from(back.dataSync())).toEqual(Array.from(x.dataSync()));
    expect(unsqueeze.forwardShape([2, 2, 2, 12])).toEqual([2, 4, 4, 3]);
  });
});

batteryOnBackends('Squeeze', () => new Squeeze(), [2, 4, 4, 1], {
  badInputShapes: [
    [2, 3, 4, 1],
    [2, 4, 4],
  ],
  badOutputShapes: [[2, 2, 2, 3]],
});
batteryOnBackends('Unsqueeze (Invert(Squeeze))', () => new Invert(new Squeeze()), [2, 2, 2, 4], {
  badInputShapes: [
    [2, 2, 2, 3],
    [2, 2, 8],
  ],
  badOutputShapes: [[2, 3, 4, 1]],
});
