import { execFileSync, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { relativeError } from '../ops/test-support/numeric.js';
import { relaxedSimdSupported } from './simd-module.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

/**
 * The Node flags under which this Node runs relaxed SIMD: none where it is on by default (V8
 * 11.4+, Node 22), the flag where only the flag enables it (Node 20), null where neither does.
 */
function relaxedNodeFlags(): string[] | null {
  if (relaxedSimdSupported()) return [];
  const probe = spawnSync(
    process.execPath,
    [
      RELAXED_FLAG,
      '--input-type=module',
      '-e',
      `import { relaxedSimdSupported } from '${join(pkg, 'dist', 'kernels', 'simd-module.js')}';
       console.log(relaxedSimdSupported());`,
    ],
    { encoding: 'utf8', cwd: pkg },
  );
  return probe.status === 0 && probe.stdout.trim() === 'true' ? [RELAXED_FLAG] : null;
}

// The shapes exercise every tile of the products and convolutions (see simd-kernels.test.ts).
const CONVOLUTIONS: Array<[number[], number[]]> = [
  [
    [4, 16, 16, 64],
    [3, 3, 64, 4],
  ],
  [
    [4, 8, 8, 4],
    [3, 3, 4, 64],
  ],
  [
    [2, 16, 16, 64],
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
    [1, 9, 7, 2],
    [5, 3, 2, 16],
  ],
  [
    [64, 8, 8, 16],
    [3, 3, 16, 28],
  ],
];
const PRODUCTS: Array<[number, number, number]> = [
  [16384, 64, 64],
  [4096, 19, 64],
  [1024, 73, 64],
  [100, 7, 13],
];
const NARROW: Array<[number, number, number]> = [
  [4096, 4, 4],
  [1024, 16, 16],
  [7, 3, 5],
];

interface Run {
  variant: string | null;
  kernelThreads: number;
  values: Record<string, number[]>;
}

/** Every kernel above on seeded inputs, in a child Node with the given flags and environment. */
function runKernels(threads: number, flags: string[], env: Record<string, string> = {}): Run {
  const dist = join(pkg, 'dist');
  const script = `
    import * as tf from '@tensorflow/tfjs-core';
    import { backendInfo, selectBackend } from '${join(dist, 'index.js')}';
    import { conv2dSameKernel, narrowProductKernel, transposeAProductKernel } from '${join(dist, 'kernels', 'simd-kernels.js')}';
    await selectBackend('wasm', { threads: ${threads} });
    for (let i = 0; i < 100 && ${threads} > 1 && backendInfo().simdKernelThreads < 2; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const normal = (shape, seed) => tf.randomNormal(shape, 0, 1, 'float32', seed);
    const values = {};
    const keep = (name, t) => { values[name] = Array.from(t.dataSync()); };
    tf.tidy(() => {
      for (const [xs, ws] of ${JSON.stringify(CONVOLUTIONS)}) {
        const x = normal(xs, 1), w = normal(ws, 2), b = normal([ws[3]], 3);
        keep('conv ' + xs + ' ' + ws, conv2dSameKernel(x, w, b, { relu: true }));
        const dy = normal([xs[0], xs[1], xs[2], ws[3]], 4);
        keep('conv input gradient ' + xs + ' ' + ws, conv2dSameKernel(dy, w, null, { flipFilter: true }));
      }
      for (const [n, p, q] of ${JSON.stringify(PRODUCTS)}) {
        keep('atb ' + [n, p, q], transposeAProductKernel(normal([n, p], 5), normal([n, q], 6), true));
      }
      for (const [m, k, n] of ${JSON.stringify(NARROW)}) {
        keep('narrow ' + [m, k, n], narrowProductKernel(normal([m, k], 7), normal([k, n], 8), normal([n], 9)));
      }
    });
    const info = backendInfo();
    console.log(JSON.stringify({ variant: info.simdKernelsVariant, kernelThreads: info.simdKernelThreads, values }));
  `;
  const out = execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
    cwd: pkg,
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, ...env },
  });
  return JSON.parse(out.trim().split('\n').pop()!) as Run;
}

const flags = relaxedNodeFlags();

describe('relaxed-SIMD kernels (fused multiply-add build)', () => {
  it('the load-time probe agrees with whether this Node (no flags) validates the relaxed module', () => {
    // Node 20 without the flag rejects relaxed SIMD; the probe must say so, or the loader would
    // pick a module that fails to compile. Where the runtime has it by default, both agree.
    const plainNode = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { relaxedSimdSupported } from '${join(pkg, 'dist', 'kernels', 'simd-module.js')}';
         import { SHARED_MEMORY_RELAXED_MODULE } from '${join(pkg, 'dist', 'kernels', 'simd-kernels.wasm.js')}';
         const bytes = Buffer.from(SHARED_MEMORY_RELAXED_MODULE, 'base64');
         console.log(JSON.stringify([relaxedSimdSupported(), WebAssembly.validate(bytes)]));`,
      ],
      { encoding: 'utf8', cwd: pkg },
    );
    expect(plainNode.status).toBe(0);
    const [probe, module] = JSON.parse(plainNode.stdout.trim()) as [boolean, boolean];
    expect(probe).toBe(module);
  });

  if (flags === null) {
    it.skip('runs (skipped: this Node validates no relaxed-SIMD code, with or without --experimental-wasm-relaxed-simd)', () => {});
    return;
  }

  for (const threads of [1, 2]) {
    it(`gives the plain build's results within float32 rounding, ${threads} thread(s)${flags.length ? ` (under ${flags.join(' ')})` : ''}`, () => {
      const relaxed = runKernels(threads, flags);
      const plain = runKernels(threads, flags, { HIERGLOW_RELAXED_SIMD: '0' });
      expect(relaxed.variant).toBe('relaxed-simd');
      expect(plain.variant).toBe('simd128');
      expect([relaxed.kernelThreads, plain.kernelThreads]).toEqual([threads, threads]);
      const names = Object.keys(plain.values);
      expect(Object.keys(relaxed.values)).toEqual(names);
      for (const name of names) {
        const [r, p] = [relaxed.values[name]!, plain.values[name]!];
        expect(r.length, name).toBe(p.length);
        // One rounding per multiply-add instead of two, over sums of up to 16384 terms.
        expect(relativeError(r, p), name).toBeLessThan(1e-5);
      }
    });
  }

  it('is what a plain Node runs wherever it has relaxed SIMD, also where only the V8 flag enables it', () => {
    // Node 20: the loader turns on --experimental-wasm-relaxed-simd itself (enableRuntimeRelaxedSimd).
    const run = runKernels(1, []);
    expect(run.variant).toBe('relaxed-simd');
  });

  it('HIERGLOW_RELAXED_SIMD=0 keeps the plain build and leaves V8 without the flag', () => {
    const script = `
      import { selectBackend, backendInfo } from '${join(pkg, 'dist', 'index.js')}';
      import { relaxedSimdSupported } from '${join(pkg, 'dist', 'kernels', 'simd-module.js')}';
      await selectBackend('wasm', { threads: 1 });
      console.log(JSON.stringify([backendInfo().simdKernelsVariant, relaxedSimdSupported()]));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: pkg,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, HIERGLOW_RELAXED_SIMD: '0' },
    });
    const [variant, supported] = JSON.parse(out.trim().split('\n').pop()!) as [string, boolean];
    expect(variant).toBe('simd128');
    // Without the opt-out this Node validates relaxed SIMD only if it does so by default.
    expect(supported).toBe(flags!.length === 0);
  });
});
