import * as tf from '@tensorflow/tfjs-core';
import { type Bijector, withDataInit } from '../bijector.js';
import {
  checkBadInputRejected,
  checkBijectorNoTensorLeak,
  checkConfigRoundTrip,
  checkFinite,
  checkGradients,
  checkInverse,
  checkJacobianLogDet,
  checkMethodsAgree,
  checkShapes,
  type JacobianOptions,
  type Tolerance,
} from './checks.js';
import { perturbVariables, seededNormal } from './inputs.js';

/** One named check of a {@link bijectorBattery}: register it as a test, or just call `run`. */
export interface BatteryCase {
  name: string;
  run: () => void | Promise<void>;
}

/** The checks a battery can run, by name (for {@link BatteryOptions.skip}). */
export type BatteryCheck =
  | 'shapes'
  | 'methods agree'
  | 'finite'
  | 'inverse'
  | 'jacobian'
  | 'gradients'
  | 'no tensor leak'
  | 'config round trip'
  | 'bad input rejected';

/** Options of {@link bijectorBattery}. */
export interface BatteryOptions {
  /** Seed of the input and of the variable perturbation (default 1). */
  seed?: number;
  /** Std of the seeded normal input (default 1). Ignored when `input` is given. */
  inputScale?: number;
  /** Custom input maker; receives the battery's input shape and seed. */
  input?: (shape: number[], seed: number) => tf.Tensor;
  /**
   * Std of seeded noise added to every trainable variable before each check (default 0.1), so
   * the checks do not run at an identity-like initialisation where a wrong log-det formula
   * could still give 0. Set 0 to check the initial state.
   */
  perturb?: number;
  /** Run one {@link withDataInit} forward pass on a seeded batch first (default false). */
  dataInit?: boolean;
  /**
   * Batch size of the data-init batch (default: the larger of 8 and the input's batch), so
   * unbiased statistics exist even when the checked input is a single example.
   */
  dataInitBatch?: number;
  /** Tolerances of the inverse check. */
  inverse?: Tolerance & { logDetAtol?: number };
  /** Options of the Jacobian check, or false to leave it out (e.g. for large shapes). */
  jacobian?: (JacobianOptions & { inputShape?: number[] }) | false;
  /** Input shapes `forward` must reject with a ShapeError; the check is added when given. */
  badInputShapes?: number[][];
  /** Output shapes `inverse` must reject with a ShapeError. */
  badOutputShapes?: number[][];
  /** Calls in the leak check (default 3). */
  leakIterations?: number;
  /** Checks to leave out, by name. */
  skip?: BatteryCheck[];
}

/**
 * The standard named checks for one bijector, as a list of `{ name, run }` so any runner can use
 * it. Each case builds a fresh bijector with `factory` (on the backend active when it runs),
 * optionally data-initialises and perturbs it, makes a seeded input of `inputShape`
 * (batch first), runs one check, and disposes everything.
 *
 * @example
 * // vitest
 * for (const c of bijectorBattery('ActNorm', () => new ActNorm({ shape: [2] }), [2, 3, 3, 2])) {
 *   it(c.name, c.run);
 * }
 * // plain node
 * for (const c of bijectorBattery(...)) await c.run();
 */
export function bijectorBattery(
  name: string,
  factory: () => Bijector,
  inputShape: number[],
  options: BatteryOptions = {},
): BatteryCase[] {
  const {
    seed = 1,
    inputScale = 1,
    input = (shape: number[], s: number) => seededNormal(shape, s, inputScale),
    perturb = 0.1,
    dataInit = false,
    leakIterations = 3,
    skip = [],
  } = options;

  const withFixture =
    (check: (b: Bijector, x: tf.Tensor) => void, shape: number[] = inputShape) =>
    () => {
      const bijector = factory();
      const x = input([...shape], seed);
      try {
        if (dataInit) {
          const initShape = [options.dataInitBatch ?? Math.max(8, shape[0]!), ...shape.slice(1)];
          const initBatch = input(initShape, seed + 1000);
          try {
            withDataInit(() => tf.dispose(bijector.forward(initBatch)));
          } finally {
            initBatch.dispose();
          }
        }
        perturbVariables(bijector, seed + 1, perturb);
        check(bijector, x);
      } finally {
        x.dispose();
        bijector.dispose();
      }
    };

  const cases: Array<[BatteryCheck, string, () => void]> = [
    ['shapes', 'shapes of outputs and log-dets', withFixture(checkShapes)],
    [
      'methods agree',
      'derived methods agree with forwardAndLogDet/inverseAndLogDet',
      withFixture(checkMethodsAgree),
    ],
    ['finite', 'finite outputs and log-dets', withFixture(checkFinite)],
    [
      'inverse',
      'inverse(forward(x)) = x and log-dets cancel',
      withFixture((b, x) => checkInverse(b, x, options.inverse)),
    ],
  ];
  if (options.jacobian !== false) {
    const { inputShape: jacShape, ...jacOptions } = options.jacobian ?? {};
    cases.push([
      'jacobian',
      'log-det equals log|det J| of the Jacobian',
      withFixture((b, x) => checkJacobianLogDet(b, x, jacOptions), jacShape ?? inputShape),
    ]);
  }
  cases.push(
    [
      'gradients',
      'finite gradients reach the input and every trainable variable',
      withFixture(checkGradients),
    ],
    [
      'no tensor leak',
      'no tensor leak over repeated calls',
      withFixture((b, x) => checkBijectorNoTensorLeak(b, x, { iterations: leakIterations })),
    ],
    [
      'config round trip',
      'getConfig -> bijectorFromConfig round trip',
      withFixture(checkConfigRoundTrip),
    ],
  );
  const badIn = options.badInputShapes ?? [];
  const badOut = options.badOutputShapes ?? [];
  if (badIn.length + badOut.length > 0) {
    const list = (shapes: number[][]) => shapes.map((s) => `[${s.join(',')}]`).join(' ');
    const parts = [
      badIn.length ? `inputs ${list(badIn)}` : '',
      badOut.length ? `outputs ${list(badOut)}` : '',
    ].filter(Boolean);
    cases.push([
      'bad input rejected',
      `rejects bad shapes: ${parts.join('; ')}`,
      withFixture((b) => checkBadInputRejected(b, badIn, { badOutputShapes: badOut })),
    ]);
  }
  return cases
    .filter(([check]) => !skip.includes(check))
    .map(([, label, run]) => ({ name: `${name}: ${label}`, run }));
}
