import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { workerPrelude } from './wasm-threads.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Runs a script against the BUILT package under plain node, as users do, and parses its JSON. */
function runPlainNode(
  threads: number,
  extraEnv: Record<string, string> = {},
): {
  threads: number;
  fallback: string | null;
  values: number[];
} {
  const script = `
    import * as tf from '@tensorflow/tfjs-core';
    import { selectBackend, WASM_FUSED_OPS } from '${join(pkg, 'dist', 'index.js')}';
    const { conv2d } = WASM_FUSED_OPS;
    const info = await selectBackend('wasm', { threads: ${threads} });
    const x = tf.randomNormal([4, 12, 12, 8], 0, 1, 'float32', 7);
    const w = tf.randomNormal([3, 3, 8, 16], 0, 1, 'float32', 8);
    const [dx, dw] = tf.grads((a, b) => tf.sum(tf.square(conv2d(a, b))))([x, w]);
    const values = [...tf.conv2d(x, w, 1, 'same').dataSync().slice(0, 64), ...dw.dataSync().slice(0, 64), ...dx.dataSync().slice(0, 64)];
    console.log(JSON.stringify({ threads: info.threads, fallback: info.threadsFallbackReason, values }));
  `;
  // A timeout proves the process exits by itself: the pool's worker threads must not hold it.
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: pkg,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, ...extraEnv },
  });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('multithreaded wasm under plain node', () => {
  it('runs a 2-thread pool, gives the single-thread results, and lets the process exit', () => {
    const single = runPlainNode(1);
    const multi = runPlainNode(2);
    expect(single.threads).toBe(1);
    expect(multi.threads).toBe(2);
    expect(multi.fallback).toBeNull();
    for (let i = 0; i < single.values.length; i++) {
      expect(multi.values[i]).toBeCloseTo(single.values[i]!, 3);
    }
  });

  it('falls back to the single-threaded binary, and says why, when the threaded one cannot start', () => {
    const r = runPlainNode(2, { HIERGLOW_WASM_THREADS_FAIL: '1' });
    expect(r.threads).toBe(1);
    expect(r.fallback).toMatch(/HIERGLOW_WASM_THREADS_FAIL/);
    expect(r.values.every(Number.isFinite)).toBe(true);
  });

  for (const threads of [1, 2]) {
    it(`leaves every global as it was and no temporary files behind (${threads} thread${threads > 1 ? 's' : ''})`, () => {
      const tmp = mkdtempSync(join(tmpdir(), 'hierglow-test-'));
      try {
        const script = `
          import os from 'node:os';
          import { selectBackend } from '${join(pkg, 'dist', 'index.js')}';
          const before = { Blob: globalThis.Blob, url: URL.createObjectURL, cpus: os.cpus, warn: console.warn };
          const listeners = process.listenerCount('uncaughtException');
          const info = await selectBackend('wasm', { threads: ${threads} });
          console.log(JSON.stringify({
            threads: info.threads,
            same: [globalThis.Blob === before.Blob, URL.createObjectURL === before.url, os.cpus === before.cpus, console.warn === before.warn],
            addedListeners: process.listenerCount('uncaughtException') - listeners,
            files: (await import('node:fs')).readdirSync(os.tmpdir()),
          }));
        `;
        const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
          cwd: pkg,
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env, TMPDIR: tmp },
        });
        const r = JSON.parse(out.trim().split('\n').pop()!);
        expect(r.threads).toBe(threads);
        expect(r.same).toEqual([true, true, true, true]);
        expect(r.addedListeners).toBe(0);
        // Removed once the pool had loaded, not only at exit.
        expect(r.files).toEqual([]);
        expect(readdirSync(tmp)).toEqual([]);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  }

  it('lets an uncaught error in user code exit with code 1 and its own message, leaving no files', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'hierglow-test-'));
    try {
      const script = `
        import { selectBackend } from '${join(pkg, 'dist', 'index.js')}';
        await selectBackend('wasm', { threads: 2 });
        setTimeout(() => { throw new Error('a bug in user code'); }, 10);
      `;
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        cwd: pkg,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, TMPDIR: tmp },
      });
      expect(run.status, run.stderr).toBe(1);
      expect(run.stderr).toContain('a bug in user code');
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('builds the worker prelude from the bundle’s hoisted requires', () => {
    const prelude = workerPrelude(
      "var require$$0 = require('fs');\nvar require$$7 = require('os');\n",
    );
    expect(prelude).toContain('require$$0=require("fs")');
    expect(prelude).toContain('require$$7=require("os")');
    expect(prelude).toContain('commonjsGlobal=globalThis');
  });

  it('refuses a bundle layout it does not recognise, so selectBackend falls back to one thread', () => {
    expect(() => workerPrelude('nothing hoisted here')).toThrow(/not recognised/);
  });
});
