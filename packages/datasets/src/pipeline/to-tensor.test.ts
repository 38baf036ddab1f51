import type { tensor4d } from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { batchToTensor } from './to-tensor.js';

describe('batchToTensor', () => {
  it('hands the batch values, NHWC shape and float32 dtype to tf.tensor4d', () => {
    // tfjs itself is not a dependency of this package; record what a tfjs module would receive.
    const calls: unknown[][] = [];
    const fakeTf = {
      tensor4d: ((...args: unknown[]) => {
        calls.push(args);
        return 'tensor';
      }) as unknown as typeof tensor4d,
    };
    const x = Float32Array.from({ length: 6 }, (_, i) => i / 16 - 0.5);
    const t = batchToTensor(
      { x, shape: [2, 1, 3, 1], indices: Int32Array.of(0, 1), epoch: 0, step: 0 },
      fakeTf,
    );
    expect(t).toBe('tensor');
    expect(calls).toEqual([[x, [2, 1, 3, 1], 'float32']]);
  });
});
