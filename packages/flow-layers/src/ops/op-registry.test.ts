import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { selectBackend } from '../testing/test-support/on-backends.js';
import type { FusedOps } from './fused-ops.js';
import { fusedOps, installFusedOps } from './op-registry.js';
import { PLAIN_OPS } from './plain-ops.js';

afterEach(() => {
  installFusedOps(null);
});

describe('the fused-op registry', () => {
  it('uses the plain ops until a runtime installs its set, and only on the backends it accepts', async () => {
    await selectBackend('cpu');
    expect(fusedOps()).toBe(PLAIN_OPS);
    const seen: string[] = [];
    const onCpu: FusedOps = {
      ...PLAIN_OPS,
      activeOn: (backend) => {
        seen.push(backend);
        return backend === 'cpu';
      },
    };
    expect(installFusedOps(onCpu)).toBeNull();
    expect(fusedOps()).toBe(onCpu);
    expect(seen).toEqual([tf.getBackend()]);
    const elsewhere: FusedOps = { ...PLAIN_OPS, activeOn: (backend) => backend === 'webgl' };
    expect(installFusedOps(elsewhere)).toBe(onCpu);
    expect(fusedOps()).toBe(PLAIN_OPS);
    expect(installFusedOps(null)).toBe(elsewhere);
    expect(fusedOps()).toBe(PLAIN_OPS);
  });

  it('plain ops reject mismatched shapes with a ShapeError naming the op', async () => {
    await selectBackend('cpu');
    const a = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(() => PLAIN_OPS.matMul(a, a)).toThrow(/matMul: cannot multiply \[2,3\] by \[2,3\]/);
    expect(() => PLAIN_OPS.splitChannelHalves(tf.zeros([2, 3]))).toThrow(/even last axis/);
    expect(() => PLAIN_OPS.affineCoupling(tf.zeros([2, 2]), tf.zeros([2, 2]))).toThrow(
      /affineCoupling: net output \[2,2\] does not match the half \[2,2\]/,
    );
    a.dispose();
  });
});
