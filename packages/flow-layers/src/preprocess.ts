import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from './errors.js';
import { createRng } from './rng.js';

/**
 * How to turn discrete pixel values into continuous inputs (spec 2.1):
 * - `'uniform'`: add `u ~ U[0, 1/256)` per value (training and data-dependent init). The noise
 *   is not centred: it lies in [0, 1/256), as in the reference code.
 * - `'bin-centre'`: add 1/512, the centre of each value's bin (final evaluation).
 * - `'none'`: no offset (e.g. the Serrà baseline, spec 8).
 */
export type Dequantization = 'uniform' | 'bin-centre' | 'none';

/** Options of {@link pixelsToInput}. */
export interface PixelsToInputOptions {
  dequantize: Dequantization;
  /** Seed of the uniform noise; required for `'uniform'` so runs are reproducible. */
  seed?: number;
}

/** Width of one 8-bit bin after scaling: 1/256 (the divisor is 256, not 255; spec 2.1). */
export const PIXEL_BIN_WIDTH = 1 / 256;

/**
 * Maps 8-bit pixel values to the flow's input range: `x = v/256 − 0.5` (+ dequantization), so
 * x ∈ [−0.5, 0.5) up to float32 rounding. Values may be non-integer (e.g. grey converted from RGB as floats) but must
 * lie in [0, 255]. Layout is whatever `shape` says; hierglow's image models take NHWC.
 *
 * Because of the 1/256 scaling, `log P(v) ≈ log p(x) − D·log 256` for D values per example.
 *
 * @example
 * const x = pixelsToInput(uint8Pixels, [64, 32, 32, 3], { dequantize: 'uniform', seed: 1 });
 * const xEval = pixelsToInput(uint8Pixels, [64, 32, 32, 3], { dequantize: 'bin-centre' });
 */
export function pixelsToInput(
  values: Uint8Array | Uint8ClampedArray | Float32Array,
  shape: number[],
  options: PixelsToInputOptions,
): tf.Tensor {
  const { dequantize, seed } = options;
  const size = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new ShapeError(`pixelsToInput: shape must be positive integers, got [${shape}]`);
  }
  if (values.length !== size) {
    throw new ShapeError(
      `pixelsToInput: ${values.length} values do not fill the shape [${shape}] (${size} values)`,
    );
  }
  let offset: () => number;
  if (dequantize === 'uniform') {
    if (seed === undefined || !Number.isInteger(seed)) {
      throw new ConfigError(
        `pixelsToInput: dequantize 'uniform' needs an integer 'seed' so the noise is reproducible`,
      );
    }
    const rng = createRng(seed);
    offset = () => rng.uniform() * PIXEL_BIN_WIDTH;
  } else if (dequantize === 'bin-centre') {
    offset = () => PIXEL_BIN_WIDTH / 2;
  } else if (dequantize === 'none') {
    offset = () => 0;
  } else {
    throw new ConfigError(
      `pixelsToInput: unknown dequantize '${dequantize as string}'; use 'uniform', 'bin-centre' or 'none'`,
    );
  }
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const v = values[i]!;
    if (!(v >= 0 && v <= 255)) {
      throw new RangeError(
        `pixelsToInput: value ${v} at index ${i} is outside the 8-bit range [0, 255]`,
      );
    }
    out[i] = v * PIXEL_BIN_WIDTH - 0.5 + offset();
  }
  return tf.tensor(out, shape, 'float32');
}
