import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ShapeError } from './errors.js';
import { pixelsToInput } from './preprocess.js';
import { selectBackend } from './testing/test-support/on-backends.js';

describe('pixelsToInput', () => {
  beforeAll(async () => {
    await selectBackend('cpu');
  });
  const pixels = Uint8Array.from([0, 1, 128, 255]);

  it('maps v to v/256 - 0.5 (divisor 256, not 255)', () => {
    const x = pixelsToInput(pixels, [1, 2, 2, 1], { dequantize: 'none' });
    expect(x.shape).toEqual([1, 2, 2, 1]);
    expect(Array.from(x.dataSync())).toEqual([-0.5, 1 / 256 - 0.5, 0, 255 / 256 - 0.5]);
  });

  it('bin-centre adds 1/512', () => {
    const x = pixelsToInput(pixels, [4], { dequantize: 'bin-centre' });
    expect(Array.from(x.dataSync())).toEqual(
      [0, 1, 128, 255].map((v) => expect.closeTo(v / 256 - 0.5 + 1 / 512, 7)),
    );
  });

  it('uniform adds seeded noise in [0, 1/256), reproducibly', () => {
    const big = new Uint8Array(4096).map((_, i) => i % 256);
    const a = pixelsToInput(big, [4096], { dequantize: 'uniform', seed: 3 }).dataSync();
    const b = pixelsToInput(big, [4096], { dequantize: 'uniform', seed: 3 }).dataSync();
    const c = pixelsToInput(big, [4096], { dequantize: 'uniform', seed: 4 }).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
    let mean = 0;
    for (let i = 0; i < big.length; i++) {
      const u = a[i]! - (big[i]! / 256 - 0.5);
      expect(u).toBeGreaterThanOrEqual(-1e-7);
      expect(u).toBeLessThan(1 / 256 + 1e-7);
      mean += u / big.length;
    }
    // Not centred: the mean offset is 1/512, not 0.
    expect(mean).toBeCloseTo(1 / 512, 4);
  });

  it('accepts float pixel values (grey from RGB) and rejects bad input', () => {
    const x = pixelsToInput(Float32Array.from([127.5]), [1], { dequantize: 'none' });
    expect(x.dataSync()[0]).toBeCloseTo(127.5 / 256 - 0.5, 7);
    expect(() => pixelsToInput(pixels, [3], { dequantize: 'none' })).toThrow(ShapeError);
    expect(() => pixelsToInput(Float32Array.from([256]), [1], { dequantize: 'none' })).toThrow(
      RangeError,
    );
    expect(() => pixelsToInput(pixels, [4], { dequantize: 'uniform' })).toThrow(ConfigError);
  });
});
