/**
 * Vitest helpers for this package's own tests (not shipped: `test-support` is excluded from
 * the build): run a block, or a whole bijector battery, once per backend.
 *
 * This package runs on the plain ops of any tfjs backend; its tests use tfjs' pure-JS cpu
 * backend as the reference. The same bijectors on the wasm runtime, with its fused ops, are
 * tested in `@hierglow/backend-wasm` (which depends on this package, not the other way round).
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Bijector } from '../../bijector.js';
import { installFusedOps } from '../../ops/op-registry.js';
import { PLAIN_OPS } from '../../ops/plain-ops.js';
import { type BatteryOptions, bijectorBattery } from '../battery.js';

/** Backends this package's tests can select. */
export type TestBackend = 'cpu';

/** The backends every bijector must pass on here. */
export const TEST_BACKENDS: readonly TestBackend[] = ['cpu'];

const require = createRequire(import.meta.url);

/** Registers and activates a backend for a test. */
export async function selectBackend(name: TestBackend): Promise<void> {
  require('@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend(name))) throw new Error(`test backend '${name}' failed to start`);
  // The cpu backend's banner recommending tfjs-node would only clutter test output.
  (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
}

/** Registers `body` inside one `describe` per backend, with that backend selected first. */
export function describeOnBackends(title: string, body: (backend: TestBackend) => void): void {
  for (const backend of TEST_BACKENDS) {
    describe(`${title} [${backend}]`, () => {
      beforeAll(async () => {
        await selectBackend(backend);
        expect(tf.getBackend()).toBe(backend);
      });
      body(backend);
    });
  }
}

/** Registers every case of {@link bijectorBattery} as an `it`, on every backend. */
export function batteryOnBackends(
  name: string,
  factory: () => Bijector,
  inputShape: number[],
  options: BatteryOptions = {},
): void {
  describeOnBackends(`${name} battery`, () => {
    for (const c of bijectorBattery(name, factory, inputShape, options)) it(c.name, c.run);
  });
}

/**
 * Runs `fn` with the plain ops marked as fusing, so the algebraic rewrites (channel-affine runs
 * as one product, ActNorms folded into convolutions) run on any backend and can be compared
 * with the layer-by-layer computation. Restores the previous op set afterwards.
 */
export function withFusion<T>(on: boolean, fn: () => T): T {
  const previous = installFusedOps(on ? { ...PLAIN_OPS, fuse: true } : null);
  try {
    return fn();
  } finally {
    installFusedOps(previous);
  }
}
