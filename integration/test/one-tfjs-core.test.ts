import { realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const packages = ['flow-layers', 'backend-wasm', 'glow', 'anomaly-metrics', 'datasets', 'cli'];

describe('all packages share one tfjs-core', () => {
  it('resolves @tensorflow/tfjs-core to the same file from every package', () => {
    const resolved = packages.map((name) => {
      const require = createRequire(join(root, 'packages', name, 'package.json'));
      return realpathSync(require.resolve('@tensorflow/tfjs-core'));
    });
    expect(new Set(resolved).size).toBe(1);
  });

  it('tensors made inside @hierglow/flow-layers and its runtime live in the caller’s tfjs engine', async () => {
    const fl = await import('@hierglow/flow-layers');
    const { selectBackend, WASM_FUSED_OPS } = await import('@hierglow/backend-wasm');
    await selectBackend('cpu');
    expect(fl.fusedOps()).toBe(WASM_FUSED_OPS);
    const before = tf.memory().numTensors;
    const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
    const w = tf.ones([1, 1, 2, 3]) as tf.Tensor4D;
    const y = fl.fusedOps().conv2d(x, w);
    expect(tf.memory().numTensors).toBe(before + 3);
    expect(tf.engine().backendName).toBe('cpu');
    expect(Array.from(y.dataSync()).every((v) => v === 2)).toBe(true);
    tf.dispose([x, w, y]);
  });
});
