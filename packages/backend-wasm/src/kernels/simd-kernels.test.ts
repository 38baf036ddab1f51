import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededNormal } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { backendInfo, selectBackend } from '../backend.js';
import { withFastPaths } from '../fast-paths.js';
import { matMulTransposeA } from '../ops/matmul.js';
import { relativeError } from '../ops/test-support/numeric.js';
import {
  adamaxUpdateKernel,
  conv2dSameAvailable,
  conv2dSameKernel,
  narrowProductAvailable,
  narrowProductKernel,
  patchesKernel,
  reluGradKernel,
  simdKernelsAvailable,
  transposeAProductKernel,
} from './simd-kernels.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `[aᵀb; 1ᵀb]` by the cpu backend's own kernels: the reference. */
async function reference(n: number, p: number, q: number): Promise<Float32Array> {
  await selectBackend('cpu');
  return tf.tidy(() => {
    const a = seededNormal([n, p], 1);
    const b = seededNormal([n, q], 2);
    const product = tf.matMul(a, b, true, false);
    return tf.concat([product, tf.sum(b, 0, true)], 0).dataSync() as Float32Array;
  });
}

// Shapes of a Glow step's filter gradients, and edges of the kernel's 4x8 tiles and row blocks.
const shapes: Array<[number, number, number]> = [
  [16384, 64, 64],
  [4096, 64, 36],
  [4096, 19, 64],
  [1024, 73, 64],
  [100, 7, 13], // neither p nor q a multiple of 4, n not a multiple of the 32-row block
  [33, 4, 8],
  [5, 1, 1],
  [1, 3, 5],
];

describe('HierglowTransposeAProduct (SIMD kernel in the wasm memory)', () => {
  it('loads on the wasm backend and says so', async () => {
    await selectBackend('wasm');
    expect(backendInfo().simdKernels).toBe(true);
    expect(backendInfo().simdKernelsFallbackReason).toBeNull();
    expect(simdKernelsAvailable()).toBe(true);
    expect(withFastPaths(false, simdKernelsAvailable)).toBe(false);
  });

  for (const [n, p, q] of shapes) {
    it(`aᵀb and the column sums of b for [${n}, ${p}] and [${n}, ${q}] match the cpu backend`, async () => {
      const expected = await reference(n, p, q);
      await selectBackend('wasm');
      const before = tf.memory().numTensors;
      const [withSums, plain] = tf.tidy(() => {
        const a = seededNormal([n, p], 1) as tf.Tensor2D;
        const b = seededNormal([n, q], 2) as tf.Tensor2D;
        return [
          transposeAProductKernel(a, b, true).dataSync() as Float32Array,
          transposeAProductKernel(a, b, false).dataSync() as Float32Array,
        ];
      });
      expect(tf.memory().numTensors).toBe(before);
      expect(withSums.length).toBe((p + 1) * q);
      // The cpu backend sums in another order: float32 rounding of sums of n terms.
      expect(relativeError(withSums, expected)).toBeLessThan(1e-5);
      expect(Array.from(plain)).toEqual(Array.from(withSums.subarray(0, p * q)));
    });
  }

  it('is what matMulTransposeA runs on wasm, with the stock route’s values', async () => {
    await selectBackend('wasm');
    const [ours, stock] = [true, false].map((fast) =>
      withFastPaths(fast, () =>
        tf.tidy(
          () =>
            matMulTransposeA(
              seededNormal([512, 24], 3) as tf.Tensor2D,
              seededNormal([512, 40], 4) as tf.Tensor2D,
            ).dataSync() as Float32Array,
        ),
      ),
    );
    expect(relativeError(ours!, stock!)).toBeLessThan(1e-6);
  });
});

/** A conv filter gradient under plain node (built package), as JSON: backend info and values. */
function runPlainNode(threads: number, env: Record<string, string> = {}) {
  const script = `
    import * as tf from '@tensorflow/tfjs-core';
    import { selectBackend, WASM_FUSED_OPS } from '${join(pkg, 'dist', 'index.js')}';
    import { backendInfo } from '${join(pkg, 'dist', 'index.js')}';
    const { conv2dBias } = WASM_FUSED_OPS;
    await selectBackend('wasm', { threads: ${threads} });
    // The helper thread starts asynchronously: give it up to 5 s, so the split path runs.
    for (let i = 0; i < 100 && ${threads} > 1 && backendInfo().simdKernelThreads < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const info = backendInfo();
    // 16384 rows of 32 and 25 values: large enough to split between two threads.
    const x = tf.randomNormal([16, 32, 32, 32], 0, 1, 'float32', 7);
    const w = tf.randomNormal([1, 1, 32, 24], 0, 1, 'float32', 8);
    const b = tf.zeros([24]);
    const grads = tf.grads((w, b) => tf.sum(tf.square(conv2dBias(x, w, b))))([w, b]);
    const values = grads.flatMap((g) => Array.from(g.dataSync()));
    console.log(JSON.stringify({ kernels: info.simdKernels, reason: info.simdKernelsFallbackReason, threads: info.simdKernelThreads, values }));
  `;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: pkg,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as {
    kernels: boolean;
    reason: string | null;
    threads: number;
    values: number[];
  };
}

describe('SIMD kernels under plain node', () => {
  it('load against the single-threaded (plain memory) and threaded (shared memory) binaries, split large products over two threads, and fall back when turned off', () => {
    const single = runPlainNode(1);
    const multi = runPlainNode(2);
    const off = runPlainNode(2, { HIERGLOW_SIMD_KERNELS: '0' });
    const oneThread = runPlainNode(2, { HIERGLOW_SIMD_KERNEL_THREADS: '1' });
    expect([single.threads, multi.threads, oneThread.threads]).toEqual([1, 2, 1]);
    expect(relativeError(oneThread.values, off.values)).toBeLessThan(1e-6);
    expect(single.kernels).toBe(true);
    expect(multi.kernels).toBe(true);
    expect(off.kernels).toBe(false);
    expect(off.reason).toMatch(/HIERGLOW_SIMD_KERNELS=0/);
    expect(relativeError(single.values, off.values)).toBeLessThan(1e-6);
    // Two halves summed: float32 rounding of sums over 16384 rows in another order.
    expect(relativeError(multi.values, off.values)).toBeLessThan(1e-5);
  });
});

describe('HierglowNarrowProduct', () => {
  for (const [m, k, n, withBias] of [
    [4096, 4, 4, true],
    [1024, 16, 16, true],
    [33, 8, 12, false],
    [7, 3, 5, true], // n not a multiple of 4: the scalar path
    [5, 16, 6, false],
  ] as const) {
    it(`x @ w${withBias ? ' + b' : ''} for [${m}, ${k}] @ [${k}, ${n}] matches the cpu backend`, async () => {
      const run = (ours: boolean) =>
        tf.tidy(() => {
          const x = seededNormal([m, k], 1) as tf.Tensor2D;
          const w = seededNormal([k, n], 2) as tf.Tensor2D;
          const b = withBias ? (seededNormal([n], 3) as tf.Tensor1D) : null;
          if (ours) return narrowProductKernel(x, w, b).dataSync() as Float32Array;
          const p = tf.matMul(x, w);
          return (b ? tf.add(p, b) : p).dataSync() as Float32Array;
        });
      await selectBackend('cpu');
      const expected = run(false);
      await selectBackend('wasm');
      expect(narrowProductAvailable(k, n)).toBe(true);
      expect(relativeError(run(true), expected)).toBeLessThan(1e-6);
    });
  }
});

describe('HierglowReluGrad', () => {
  it('equals dy · step(y), and is what conv2dBias uses on wasm', async () => {
    await selectBackend('wasm');
    tf.tidy(() => {
      const dy = seededNormal([3, 5, 7, 9], 1); // 945 values: a SIMD body and a scalar tail
      const y = tf.concat([seededNormal([3, 5, 7, 8], 2), tf.zeros([3, 5, 7, 1])], 3);
      const ours = Array.from(reluGradKernel(dy, y).dataSync());
      const stock = Array.from(tf.mul(dy, tf.step(y)).dataSync());
      // Where y <= 0 the stock route gives -0 for a negative dy; compare as numbers.
      expect(ours.map((v) => v + 0)).toEqual(stock.map((v) => v + 0));
    });
  });
});

describe('SimdHelperThread', () => {
  it('stays not ready (the caller runs alone) when its worker cannot start the module', async () => {
    const { SimdHelperThread } = await import('./simd-helper-thread.js');
    const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: object) => object } })
      .WebAssembly;
    const memory = new wasm.Memory({ initial: 1, maximum: 1, shared: true });
    // Not a compiled module: the worker cannot instantiate it.
    const helper = SimdHelperThread.start(memory, { not: 'a module' }, ['atb_rows']);
    await new Promise((r) => setTimeout(r, 500));
    expect(helper.ready).toBe(false);
  });
});

/** Runs `f` on the cpu backend (the reference) and on wasm (our kernels), returns both results. */
async function cpuAndWasm(
  f: (backend: 'cpu' | 'wasm') => Float32Array,
): Promise<{ expected: Float32Array; ours: Float32Array }> {
  await selectBackend('cpu');
  const expected = f('cpu');
  await selectBackend('wasm');
  return { expected, ours: f('wasm') };
}

describe('HierglowConv2DSame', () => {
  // [x shape, filter shape]: a Glow coupling net's convolutions and the edges of the kernel's
  // tiles (4x8; 2x4 over input channels when O % 8 == 4 and C % 4 == 0; 4x4 broadcasting when
  // C is not a multiple of 4; one channel at a time past a multiple of 4; rows not a multiple
  // of 4 pixels; images narrower than a tile).
  const shapes: Array<[[number, number, number, number], [number, number, number, number]]> = [
    [
      [4, 16, 16, 64],
      [3, 3, 64, 4],
    ],
    [
      [4, 8, 8, 4],
      [3, 3, 4, 64],
    ],
    [
      [4, 16, 16, 64],
      [1, 1, 64, 64],
    ],
    [
      [3, 7, 5, 8],
      [3, 3, 8, 12],
    ],
    [
      [2, 6, 9, 3],
      [3, 3, 3, 12],
    ],
    [
      [2, 5, 6, 5],
      [3, 3, 5, 7],
    ],
    [
      [2, 2, 3, 4],
      [3, 3, 4, 8],
    ],
    [
      [1, 9, 7, 2],
      [5, 3, 2, 16],
    ],
  ];
  for (const [xs, ws] of shapes) {
    for (const relu of [false, true]) {
      it(`${ws[0]}x${ws[1]} 'same' of [${xs}] by [${ws}] + bias${relu ? ', ReLU' : ''} matches the cpu backend`, async () => {
        const { expected, ours } = await cpuAndWasm((backend) =>
          tf.tidy(() => {
            const x = seededNormal(xs, 1) as tf.Tensor4D;
            const w = seededNormal(ws, 2) as tf.Tensor4D;
            const b = seededNormal([ws[3]], 3) as tf.Tensor1D;
            if (backend === 'wasm') {
              expect(conv2dSameAvailable(x, w)).toBe(true);
              return conv2dSameKernel(x, w, b, { relu }).dataSync() as Float32Array;
            }
            const y = tf.add(tf.conv2d(x, w, 1, 'same'), b);
            return (relu ? tf.relu(y) : y).dataSync() as Float32Array;
          }),
        );
        expect(ours.length).toBe(expected.length);
        expect(relativeError(ours, expected)).toBeLessThan(1e-5);
      });
    }
    it(`with the filter turned (an input gradient) for [${ws}] matches the cpu backend`, async () => {
      const dyShape: [number, number, number, number] = [xs[0], xs[1], xs[2], ws[3]];
      const { expected, ours } = await cpuAndWasm((backend) =>
        tf.tidy(() => {
          const dy = seededNormal(dyShape, 4) as tf.Tensor4D;
          const w = seededNormal(ws, 5) as tf.Tensor4D;
          if (backend === 'wasm') {
            return conv2dSameKernel(dy, w, null, { flipFilter: true }).dataSync() as Float32Array;
          }
          const turned = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
          return tf.conv2d(dy, turned, 1, 'same').dataSync() as Float32Array;
        }),
      );
      expect(ours.length).toBe(xs[0] * xs[1] * xs[2] * ws[2]);
      expect(relativeError(ours, expected)).toBeLessThan(1e-5);
    });
  }

  it('gives the same bits when few rows are shared by channel units between threads', async () => {
    await selectBackend('wasm');
    tf.tidy(() => {
      // 16 rows of 4 pixels: shared by units of 8 output channels (76: 9 units and a rest).
      const x = seededNormal([4, 4, 4, 64], 9) as tf.Tensor4D;
      const w = seededNormal([3, 3, 64, 76], 10) as tf.Tensor4D;
      const b = seededNormal([76], 11) as tf.Tensor1D;
      const whole = Array.from(conv2dSameKernel(x, w, b, { relu: true }).dataSync());
      const images = tf.split(x, 4, 0) as tf.Tensor4D[];
      const parts = images.flatMap((xi) =>
        Array.from(conv2dSameKernel(xi, w, b, { relu: true }).dataSync()),
      );
      expect(whole).toEqual(parts);
    });
  });

  it('gives the same bits whether or not a call is split between threads', async () => {
    await selectBackend('wasm');
    tf.tidy(() => {
      // 64 images: 2^22 multiply-adds, above the split threshold; one image at a time, below.
      const x = seededNormal([64, 8, 8, 16], 6) as tf.Tensor4D;
      const w = seededNormal([3, 3, 16, 28], 7) as tf.Tensor4D;
      const b = seededNormal([28], 8) as tf.Tensor1D;
      const whole = Array.from(conv2dSameKernel(x, w, b, { relu: true }).dataSync());
      const images = tf.split(x, 64, 0) as tf.Tensor4D[];
      const parts = images.flatMap((xi) =>
        Array.from(conv2dSameKernel(xi, w, b, { relu: true }).dataSync()),
      );
      expect(whole).toEqual(parts);
    });
  });

  it('rejects a filter whose channels do not match the input', async () => {
    await selectBackend('wasm');
    expect(() =>
      tf.tidy(() => conv2dSameKernel(tf.zeros([1, 4, 4, 3]), tf.zeros([3, 3, 4, 8]), null)),
    ).toThrow(/HierglowConv2DSame: needs float32 NHWC x with 4 channels/);
  });
});

describe('HierglowPatches', () => {
  /** The reference: every tap's shifted copy of x, by pad and slice, concatenated per pixel. */
  function referencePatches(x: tf.Tensor4D, kh: number, kw: number, flip: boolean, ones: boolean) {
    const [n, h, w, c] = x.shape;
    const [ph, pw] = [(kh - 1) / 2, (kw - 1) / 2];
    const padded = tf.pad(x, [
      [0, 0],
      [ph, ph],
      [pw, pw],
      [0, 0],
    ]);
    const taps: tf.Tensor[] = [];
    for (let a = 0; a < kh; a++) {
      for (let b = 0; b < kw; b++) {
        const [da, db] = flip ? [kh - 1 - a, kw - 1 - b] : [a, b];
        taps.push(tf.slice(padded, [0, da, db, 0], [n, h, w, c]));
      }
    }
    if (ones) taps.push(tf.ones([n, h, w, 1]));
    return tf.reshape(tf.concat(taps, 3), [n * h * w, -1]);
  }

  for (const [xs, kh, kw] of [
    [[2, 6, 5, 4], 3, 3],
    [[3, 4, 7, 2], 3, 3],
    [[1, 5, 5, 3], 5, 3],
    [[2, 3, 3, 8], 1, 1],
  ] as Array<[[number, number, number, number], number, number]>) {
    for (const [flip, ones] of [
      [false, false],
      [false, true],
      [true, false],
      [true, true],
    ] as Array<[boolean, boolean]>) {
      it(`${kh}x${kw} patches of [${xs}]${flip ? ', flipped' : ''}${ones ? ', with ones' : ''} equal shifted copies`, async () => {
        await selectBackend('wasm');
        tf.tidy(() => {
          const x = seededNormal(xs, 9) as tf.Tensor4D;
          const ours = patchesKernel(x, kh, kw, { flip, ones });
          const expected = referencePatches(x, kh, kw, flip, ones);
          expect(ours.shape).toEqual(expected.shape);
          expect(Array.from(ours.dataSync())).toEqual(Array.from(expected.dataSync()));
        });
      });
    }
  }
});

describe('HierglowAdamaxUpdate', () => {
  for (const weightDecay of [0, 0.05]) {
    it(`equals the tfjs-op update bit for bit (weight decay ${weightDecay}, SIMD body and scalar tail)`, async () => {
      await selectBackend('wasm');
      tf.tidy(() => {
        const shapes = [[3, 3, 2, 4], [7], [5, 5]];
        const make = (seed: number, positive = false) =>
          shapes.map((s, i) => {
            const t = seededNormal(s, seed + i);
            return positive ? tf.abs(t) : t;
          });
        const [theta, grads, m, u] = [make(10), make(20), make(30), make(40, true)];
        const attrs = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay, stepSize: 5e-4 / 0.19 };
        const ours = adamaxUpdateKernel(theta, grads, m, u, attrs);
        shapes.forEach((_, i) => {
          const g =
            weightDecay === 0 ? grads[i]! : tf.add(grads[i]!, tf.mul(theta[i]!, weightDecay));
          const mNew = tf.add(tf.mul(m[i]!, attrs.beta1), tf.mul(g, 1 - attrs.beta1));
          const uNew = tf.maximum(tf.mul(u[i]!, attrs.beta2), tf.add(tf.abs(g), attrs.eps));
          const tNew = tf.sub(theta[i]!, tf.mul(tf.div(mNew, uNew), attrs.stepSize));
          for (const [a, b] of [
            [ours.theta[i]!, tNew],
            [ours.m[i]!, mNew],
            [ours.u[i]!, uNew],
          ] as const) {
            expect(a.shape).toEqual(b.shape);
            expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
          }
        });
      });
    });
  }
});
