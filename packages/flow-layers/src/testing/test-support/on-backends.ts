/**
 * Vitest helpers for this package's own tests (not shipped: `test-support` is excluded from
 * the build): run a block, or a whole bijector battery, once per backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BackendName, selectBackend } from '../../backend.js';
import type { Bijector } from '../../bijector.js';
import { type BatteryOptions, bijectorBattery } from '../battery.js';

/** The backends every bijector must pass on. */
export const TEST_BACKENDS: readonly BackendName[] = ['cpu', 'wasm'];

/** Registers `body` inside one `describe` per backend, with that backend selected first. */
export function describeOnBackends(title: string, body: (backend: BackendName) => void): void {
  for (const backend of TEST_BACKENDS) {
    describe(`${title} [${backend}]`, () => {
      beforeAll(async () => {
        const info = await selectBackend(backend);
        expect(tf.getBackend()).toBe(info.tfjsBackend);
        expect(info.backend).toBe(backend);
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
