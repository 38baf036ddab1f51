import { ShapeError } from '@hierglow/flow-layers';
import { seededNormal } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.js';
import { affineCouplingForward, affineCouplingInverseGrad } from './affine-coupling.js';
import { customGradMultiAvailable } from './custom-grad.js';
import { relativeError } from './test-support/numeric.js';

/** Spec 3.3c written out op by op, with tfjs' own gradients (log σ as −softplus(−z)). */
function reference(xb: tf.Tensor, h: tf.Tensor): { yb: tf.Tensor; logDet: tf.Tensor } {
  const c = h.shape[h.rank - 1]!;
  const pairs = tf.reshape(h, [...h.shape.slice(0, -1), c / 2, 2]);
  const [shift, raw] = tf.split(pairs, 2, pairs.rank - 1).map((t) => tf.reshape(t, xb.shape));
  const z = tf.add(raw!, 2);
  const yb = tf.mul(tf.add(xb, shift!), tf.sigmoid(z));
  const logDet = tf.neg(tf.sum(tf.reshape(tf.softplus(tf.neg(z)), [xb.shape[0]!, -1]), 1));
  return { yb, logDet };
}

type Outputs = (xb: tf.Tensor, h: tf.Tensor) => { yb: tf.Tensor; logDet: tf.Tensor };

/** Values of both outputs and gradients of `Σ wy·yb + Σ wl·logDet` (either weight may be 0). */
function run(f: Outputs, shape: number[], weights: { y: number; l: number }) {
  return tf.tidy(() => {
    const half = [...shape.slice(0, -1), shape[shape.length - 1]! / 2];
    const xb = seededNormal(half, 1);
    const h = tf.mul(seededNormal(shape, 2), 2); // raw scales from about −6 to 6
    const wy = tf.mul(seededNormal(half, 3), weights.y);
    const wl = tf.mul(seededNormal([shape[0]!], 4), weights.l);
    const { yb, logDet } = f(xb, h);
    const loss = (a: tf.Tensor, b: tf.Tensor) => {
      const o = f(a, b);
      return tf.add(tf.sum(tf.mul(o.yb, wy)), tf.sum(tf.mul(o.logDet, wl))) as tf.Scalar;
    };
    const [gx, gh] = tf.grads(loss)([xb, h]);
    return [yb, logDet, gx!, gh!].map((t) => t.dataSync() as Float32Array);
  });
}

describe('affineCouplingForward', () => {
  it('can use the engine entry point for multi-output gradients on this tfjs-core', () => {
    expect(customGradMultiAvailable()).toBe(true);
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    for (const shape of [
      [3, 4, 5, 4],
      [2, 3, 3, 16],
      [6, 8],
    ]) {
      for (const weights of [
        { y: 1, l: 1 },
        { y: 1, l: 0 },
        { y: 0, l: 1 },
      ]) {
        it(`matches the taped spec on ${backend}, [${shape}], loss weights ${JSON.stringify(weights)}`, async () => {
          await selectBackend(backend);
          const before = tf.memory().numTensors;
          const ours = run(affineCouplingForward, shape, weights);
          const ref = run(reference, shape, weights);
          expect(tf.memory().numTensors).toBe(before);
          const names = ['yb', 'logDet', 'd/dxb', 'd/dh'];
          ours.forEach((values, i) => {
            const expected = ref[i]!;
            if (expected.every((v) => v === 0)) {
              expect(Array.from(values), names[i]).toEqual(Array.from(expected));
            } else {
              expect(relativeError(values, expected), names[i]).toBeLessThan(1e-5);
            }
          });
        });
      }
    }
  }

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`stays finite where σ underflows (raw scale far below −89), on ${backend}`, async () => {
      await selectBackend(backend);
      tf.tidy(() => {
        const xb = tf.ones([1, 4]);
        const h = tf.tensor2d([[0, -200, 0, 0, 0, 150, 0, -1e30]]);
        const { yb, logDet } = affineCouplingForward(xb, h);
        expect(Number.isFinite(logDet.dataSync()[0])).toBe(true);
        const y = yb.dataSync();
        expect(y[0]).toBeLessThan(1e-37);
        expect(y[1]).toBeCloseTo(0.8808, 4);
        expect(y[2]).toBeCloseTo(1, 6);
        expect(y[3]).toBeLessThan(1e-37);
      });
    });
  }

  it('takes σ and log σ within a few float32 ulps on wasm (hierglow’s own e^x and ln x)', async () => {
    await selectBackend('wasm');
    tf.tidy(() => {
      // Raw scales from −80 to 80 (σ(r + 2) from ~1e-34 to 1), xb = 1 and shift 0: yb = s.
      const n = 4096;
      const raw = Float32Array.from({ length: n }, (_, i) => -80 + (160 * i) / (n - 1));
      const h = new Float32Array(2 * n);
      raw.forEach((r, i) => {
        h[2 * i + 1] = r;
      });
      const { yb, logDet } = affineCouplingForward(tf.ones([n / 4, 4]), tf.tensor2d(h, [n / 4, 8]));
      const s = yb.dataSync();
      const ld = logDet.dataSync();
      let worst = 0;
      for (let i = 0; i < n; i++) {
        const exact = 1 / (1 + Math.exp(-(raw[i]! + 2)));
        worst = Math.max(worst, Math.abs(s[i]! - exact) / exact);
      }
      expect(worst).toBeLessThan(4e-7);
      for (let e = 0; e < n / 4; e++) {
        let exact = 0;
        for (let k = 0; k < 4; k++) exact -= Math.log1p(Math.exp(-(raw[4 * e + k]! + 2)));
        expect(Math.abs(ld[e]! - exact)).toBeLessThan(2e-6 * Math.max(1, Math.abs(exact)));
      }
    });
  });

  it('rejects a net output that does not match the half', async () => {
    await selectBackend('cpu');
    tf.tidy(() => {
      expect(() => affineCouplingForward(tf.zeros([2, 3, 3, 2]), tf.zeros([2, 3, 3, 6]))).toThrow(
        ShapeError,
      );
    });
  });
});

describe('affineCouplingInverseGrad (reversible backprop step from the output)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    // [2, 3, 3, 6]: 27 values per example, not a multiple of 4, so the plain op runs on wasm too.
    for (const shape of [
      [3, 4, 5, 4],
      [2, 3, 3, 16],
      [6, 8],
      [2, 3, 3, 6],
    ]) {
      it(`inverts the forward pass and gives the taped spec's gradient on ${backend}, [${shape}]`, async () => {
        await selectBackend(backend);
        const half = [...shape.slice(0, -1), shape[shape.length - 1]! / 2];
        const aligned = (half.reduce((a, b) => a * b, 1) / shape[0]!) % 4 === 0;
        const before = tf.memory().numTensors;
        const [xb, h, dyb, dLogDet] = [
          seededNormal(half, 1),
          tf.tidy(() => tf.mul(seededNormal(shape, 2), 2)),
          seededNormal(half, 3),
          seededNormal([shape[0]!], 4),
        ];
        const taped = tf.engine().gradients(() => {
          const { yb, logDet } = reference(xb!, h!);
          return tf.add(tf.sum(tf.mul(yb, dyb!)), tf.sum(tf.mul(logDet, dLogDet!))) as tf.Scalar;
        }, [xb!, h!]);
        const { yb, logDet } = affineCouplingForward(xb!, h!);
        let ours: { xb: tf.Tensor; dxb: tf.Tensor; dh: tf.Tensor } | null = null;
        const profile = await tf.profile(() => {
          ours = affineCouplingInverseGrad(yb, h!, dyb!, dLogDet as tf.Tensor1D);
          return [ours.xb, ours.dxb, ours.dh];
        });
        const kernels = profile.kernelNames;
        expect(kernels.includes('HierglowAffineCouplingInverseGrad')).toBe(
          backend === 'wasm' && aligned,
        );
        const { xb: recomputed, dxb, dh } = ours!;
        const read = (t: tf.Tensor) => t.dataSync() as Float32Array;
        expect(relativeError(read(recomputed), read(xb!)), 'xb').toBeLessThan(1e-5);
        expect(relativeError(read(dxb), read(taped.grads[0]!)), 'd/dxb').toBeLessThan(1e-5);
        expect(relativeError(read(dh), read(taped.grads[1]!)), 'd/dh').toBeLessThan(1e-5);
        tf.dispose([
          xb!,
          h!,
          dyb!,
          dLogDet!,
          yb,
          logDet,
          recomputed,
          dxb,
          dh,
          taped.value,
          ...taped.grads,
        ]);
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }
});
