/**
 * Framework-agnostic checks for bijectors. Each throws an `Error` with a descriptive message on
 * failure and returns nothing on success, so they work with any test runner and under plain
 * `node`. Tensors made inside a check are disposed; the caller keeps ownership of its inputs.
 */
import * as tf from '@tensorflow/tfjs-core';
import '../register-gradients.js';
import { assignVariables, type Bijector, bijectorFromConfig } from '../bijector.js';
import { ShapeError } from '../errors.js';
import { logAbsDet } from '../linalg.js';

/** Tolerances shared by value comparisons: pass when |a − b| <= atol + rtol·|b|. */
export interface Tolerance {
  atol?: number;
  rtol?: number;
}

function describe(b: Bijector): string {
  return b.type;
}

function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** The worst violation of |a − b| <= atol + rtol·|b|, or null when all entries pass. */
function worstMismatch(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
): { index: number; actual: number; expected: number; excess: number } | null {
  let worst: { index: number; actual: number; expected: number; excess: number } | null = null;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
    if (!(excess <= 0) && (worst === null || !(excess <= worst.excess))) {
      worst = { index: i, actual: a, expected: e, excess };
    }
  }
  return worst;
}

function readData(t: tf.Tensor): Float32Array {
  return t.dataSync() as Float32Array;
}

/**
 * `inverse(forward(x)) ≈ x`, and the inverse log-det is minus the forward log-det per example.
 *
 * Defaults: `atol` 1e-4 and `rtol` 1e-4 on x; log-dets within `logDetAtol` (1e-3) + `rtol`·|logDet|.
 */
export function checkInverse(
  bijector: Bijector,
  x: tf.Tensor,
  options: Tolerance & { logDetAtol?: number } = {},
): void {
  const { atol = 1e-4, rtol = 1e-4, logDetAtol = 1e-3 } = options;
  const [xBack, ldF, ldI] = tf.tidy(() => {
    const fwd = bijector.forwardAndLogDet(x);
    const inv = bijector.inverseAndLogDet(fwd.y);
    return [readData(inv.x), readData(fwd.logDet), readData(inv.logDet)];
  });
  const xs = readData(x);
  if (xBack.length !== xs.length) {
    throw new Error(
      `checkInverse(${describe(bijector)}): inverse(forward(x)) has ${xBack.length} values, x has ${xs.length}`,
    );
  }
  const bad = worstMismatch(xBack, xs, atol, rtol);
  if (bad) {
    throw new Error(
      `checkInverse(${describe(bijector)}): inverse(forward(x)) differs from x at flat index ${bad.index}: ` +
        `got ${bad.actual}, expected ${bad.expected} (atol ${atol}, rtol ${rtol}) for x of shape ${shapeStr(x.shape)}`,
    );
  }
  const negInverse = Array.from(ldI, (v) => -v);
  const badLd = worstMismatch(negInverse, ldF, logDetAtol, rtol);
  if (badLd) {
    throw new Error(
      `checkInverse(${describe(bijector)}): log-dets do not cancel for example ${badLd.index}: ` +
        `forward ${badLd.expected}, inverse ${-badLd.actual} (sum should be 0; atol ${logDetAtol}, rtol ${rtol})`,
    );
  }
}

/** How {@link checkJacobianLogDet} forms the Jacobian. */
export type JacobianMethod = 'autodiff' | 'finite-differences';

/**
 * Up to this many values per example {@link checkJacobianLogDet} takes the exact autodiff
 * Jacobian by default: its backward pass runs on D copies of each example (in chunks of at most
 * 2^18 input values), cheap for the tiny shapes a check uses. Above it the default is
 * forward-only finite differences, which keep no activations for a backward pass.
 */
export const AUTODIFF_MAX_DIMENSION = 256;

/** Input values per autodiff pass: bounds the memory of the copies and their activations. */
const AUTODIFF_VALUES_PER_PASS = 1 << 18;

/** Options of {@link checkJacobianLogDet}. */
export interface JacobianOptions extends Tolerance {
  /**
   * `'autodiff'`: exact rows of J by `tf.grad` (float32 rounding only); `'finite-differences'`:
   * float32 central differences. Default: autodiff for D <= {@link AUTODIFF_MAX_DIMENSION}.
   */
  method?: JacobianMethod;
  /** Central-difference step (default 1e-2); finite differences only. */
  eps?: number;
  /** Refuse inputs with more values per example than this (default 512): the cost is O(D³). */
  maxDimension?: number;
}

/**
 * Compares the forward log-det with log|det J| of the full Jacobian of the flattened map, per
 * example; the determinant is taken in float64 plain JS ({@link logAbsDet}, LU with partial
 * pivoting).
 *
 * J is exact by default (`method: 'autodiff'`, for D <= {@link AUTODIFF_MAX_DIMENSION} values per
 * example): row o is the gradient of output o, all rows from one backward pass over D copies of
 * each example (a bijector maps each example on its own). Its entries carry only float32
 * rounding, so the defaults are tight, `atol` 1e-4 and `rtol` 1e-6 (log|det| of a data-initialised
 * Glow step, ~100 on D = 32, agrees to a few 1e-6): a log-det off by 1e-3 fails.
 *
 * With `method: 'finite-differences'` (the default above D = 256, and the way to check a
 * bijector whose ops have no gradient) J comes from float32 central differences, one batched
 * forward pass over the 2·D perturbed copies of each example. Defaults `eps` 1e-2, `atol` 1e-2,
 * `rtol` 1e-4: float32 rounding puts an error of ~1e-7/eps ≈ 1e-5 on each entry of J for inputs
 * of scale ~1, and the truncation error of central differences grows with the curvature of the
 * map: layers with large scales (a data-initialised ActNorm, a trained coupling) can be off by
 * a few 1e-2, so prefer autodiff where it runs. A wrong log-det formula (a missing H·W factor, a
 * sign, a dropped term) is off by much more. The step actually taken is measured from the
 * float32 inputs, so the rounding of x ± eps does not bias J.
 */
export function checkJacobianLogDet(
  bijector: Bijector,
  x: tf.Tensor,
  options: JacobianOptions = {},
): void {
  const [batch, ...event] = x.shape;
  const d = event.reduce((a, b) => a * b, 1);
  if (batch === undefined || x.rank < 2) {
    throw new ShapeError(
      `checkJacobianLogDet: x must have a batch axis and an event, got ${shapeStr(x.shape)}`,
    );
  }
  const method =
    options.method ?? (d <= AUTODIFF_MAX_DIMENSION ? 'autodiff' : 'finite-differences');
  const exact = method === 'autodiff';
  const {
    eps = 1e-2,
    atol = exact ? 1e-4 : 1e-2,
    rtol = exact ? 1e-6 : 1e-4,
    maxDimension = 512,
  } = options;
  if (d > maxDimension) {
    throw new RangeError(
      `checkJacobianLogDet(${describe(bijector)}): ${d} values per example exceeds maxDimension ${maxDimension}; ` +
        `use a tinier input shape (the Jacobian costs O(D³))`,
    );
  }
  const jacobians = exact
    ? autodiffJacobians(bijector, x, batch, event, d)
    : finiteDifferenceJacobians(bijector, x, batch, event, d, eps);
  const logDet = tf.tidy(() => readData(bijector.forwardLogDet(x)));
  const problems: string[] = [];
  for (let b = 0; b < batch; b++) {
    const computed = logAbsDet(jacobians[b]!, d);
    const reported = logDet[b]!;
    if (!(Math.abs(computed - reported) <= atol + rtol * Math.abs(computed))) {
      problems.push(
        `example ${b}: forwardAndLogDet says ${reported}, log|det J| = ${computed} (off by ${reported - computed})`,
      );
    }
  }
  if (problems.length > 0) {
    const how = exact ? 'autodiff' : `finite-difference (eps ${eps})`;
    throw new Error(
      `checkJacobianLogDet(${describe(bijector)}): log-det disagrees with the ${how} Jacobian ` +
        `(atol ${atol}, rtol ${rtol}, D = ${d}): ${problems.join('; ')}`,
    );
  }
}

function dimensionError(bijector: Bijector, perExample: number, d: number): Error {
  return new Error(
    `checkJacobianLogDet(${describe(bijector)}): output has ${perExample} values per example, ` +
      `input has ${d}; a bijection must keep the dimension`,
  );
}

/**
 * Row-major J[o, i] = ∂y_o/∂x_i per example, by autodiff: copy (b, k) of example b takes the
 * gradient of its output `o0 + k`, so one backward pass yields `rows` rows of every example.
 */
function autodiffJacobians(
  bijector: Bijector,
  x: tf.Tensor,
  batch: number,
  event: number[],
  d: number,
): Float64Array[] {
  const jacobians = Array.from({ length: batch }, () => new Float64Array(d * d));
  const rowsPerPass = Math.max(1, Math.min(d, Math.floor(AUTODIFF_VALUES_PER_PASS / (batch * d))));
  for (let o0 = 0; o0 < d; o0 += rowsPerPass) {
    const rows = Math.min(rowsPerPass, d - o0);
    const copies = batch * rows;
    const grads = tf.tidy(() => {
      // Copy (b, k) sits at b·rows + k and picks output o0 + k.
      const tiled = tf.reshape(tf.tile(tf.reshape(x, [batch, 1, d]), [1, rows, 1]), [
        copies,
        ...event,
      ]);
      const pick = new Float32Array(copies * d);
      for (let b = 0; b < batch; b++) {
        for (let k = 0; k < rows; k++) pick[(b * rows + k) * d + o0 + k] = 1;
      }
      const selector = tf.tensor2d(pick, [copies, d]);
      const pickedOutputs = (input: tf.Tensor): tf.Scalar => {
        const y = bijector.forward(input);
        if (y.size !== copies * d) throw dimensionError(bijector, y.size / copies, d);
        return tf.sum(tf.mul(tf.reshape(y, [copies, d]), selector));
      };
      return readData(tf.grad(pickedOutputs)(tiled));
    });
    for (let b = 0; b < batch; b++) {
      for (let k = 0; k < rows; k++) {
        const from = (b * rows + k) * d;
        jacobians[b]!.set(grads.subarray(from, from + d), (o0 + k) * d);
      }
    }
  }
  return jacobians;
}

/** Row-major J[o, i] per example by float32 central differences (one forward pass). */
function finiteDifferenceJacobians(
  bijector: Bijector,
  x: tf.Tensor,
  batch: number,
  event: number[],
  d: number,
  eps: number,
): Float64Array[] {
  const xs = readData(x);
  const perturbed = new Float32Array(batch * 2 * d * d);
  const steps = new Float64Array(batch * d);
  for (let b = 0; b < batch; b++) {
    const base = xs.subarray(b * d, (b + 1) * d);
    for (let i = 0; i < d; i++) {
      const plus = (b * 2 * d + 2 * i) * d;
      const minus = plus + d;
      perturbed.set(base, plus);
      perturbed.set(base, minus);
      perturbed[plus + i] = base[i]! + eps;
      perturbed[minus + i] = base[i]! - eps;
      steps[b * d + i] = perturbed[plus + i]! - perturbed[minus + i]!;
    }
  }
  const ys = tf.tidy(() => {
    const input = tf.tensor(perturbed, [batch * 2 * d, ...event], 'float32');
    const out = bijector.forward(input);
    if (out.size !== batch * 2 * d * d) {
      throw dimensionError(bijector, out.size / (batch * 2 * d), d);
    }
    return readData(out);
  });
  const jacobians: Float64Array[] = [];
  for (let b = 0; b < batch; b++) {
    const jac = new Float64Array(d * d);
    for (let i = 0; i < d; i++) {
      const plus = (b * 2 * d + 2 * i) * d;
      const minus = plus + d;
      const h = steps[b * d + i]!;
      // Column i of J: d y / d x_i.
      for (let o = 0; o < d; o++) jac[o * d + i] = (ys[plus + o]! - ys[minus + o]!) / h;
    }
    jacobians.push(jac);
  }
  return jacobians;
}

/**
 * Shapes are right: `forwardShape(x.shape)` matches the actual output, `inverseShape` maps it
 * back to x's shape, the inverse returns x's shape, and both log-dets have shape `[batch]`.
 */
export function checkShapes(bijector: Bijector, x: tf.Tensor): void {
  const who = `checkShapes(${describe(bijector)})`;
  const batch = x.shape[0];
  tf.tidy(() => {
    const fwd = bijector.forwardAndLogDet(x);
    const predicted = bijector.forwardShape(x.shape);
    if (!tf.util.arraysEqual(predicted, fwd.y.shape)) {
      throw new Error(
        `${who}: forwardShape(${shapeStr(x.shape)}) = ${shapeStr(predicted)} but forward returned ${shapeStr(fwd.y.shape)}`,
      );
    }
    if (!tf.util.arraysEqual(fwd.logDet.shape, [batch!])) {
      throw new Error(
        `${who}: forward logDet has shape ${shapeStr(fwd.logDet.shape)}, expected [${batch}]`,
      );
    }
    const back = bijector.inverseShape(fwd.y.shape);
    if (!tf.util.arraysEqual(back, x.shape)) {
      throw new Error(
        `${who}: inverseShape(${shapeStr(fwd.y.shape)}) = ${shapeStr(back)}, expected ${shapeStr(x.shape)}`,
      );
    }
    const inv = bijector.inverseAndLogDet(fwd.y);
    if (!tf.util.arraysEqual(inv.x.shape, x.shape)) {
      throw new Error(
        `${who}: inverse returned ${shapeStr(inv.x.shape)}, expected ${shapeStr(x.shape)}`,
      );
    }
    if (!tf.util.arraysEqual(inv.logDet.shape, [batch!])) {
      throw new Error(
        `${who}: inverse logDet has shape ${shapeStr(inv.logDet.shape)}, expected [${batch}]`,
      );
    }
    for (const [name, t] of [
      ['forward y', fwd.y],
      ['inverse x', inv.x],
    ] as const) {
      if (t.dtype !== 'float32')
        throw new Error(`${who}: ${name} has dtype ${t.dtype}, expected float32`);
    }
  });
}

/**
 * The derived methods agree with the two primitive ones: `forward`, `forwardLogDet`, `inverse`
 * and `inverseLogDet` return what `forwardAndLogDet` / `inverseAndLogDet` return.
 */
export function checkMethodsAgree(bijector: Bijector, x: tf.Tensor, options: Tolerance = {}): void {
  const { atol = 1e-6, rtol = 1e-6 } = options;
  const who = `checkMethodsAgree(${describe(bijector)})`;
  const pairs = tf.tidy(() => {
    const fwd = bijector.forwardAndLogDet(x);
    const inv = bijector.inverseAndLogDet(fwd.y);
    return [
      ['forward', readData(bijector.forward(x)), readData(fwd.y)],
      ['forwardLogDet', readData(bijector.forwardLogDet(x)), readData(fwd.logDet)],
      ['inverse', readData(bijector.inverse(fwd.y)), readData(inv.x)],
      ['inverseLogDet', readData(bijector.inverseLogDet(fwd.y)), readData(inv.logDet)],
    ] as const;
  });
  for (const [name, derived, primitive] of pairs) {
    const bad = worstMismatch(derived, primitive, atol, rtol);
    if (bad) {
      throw new Error(
        `${who}: ${name} differs from the primitive method at index ${bad.index}: ${bad.actual} vs ${bad.expected}`,
      );
    }
  }
}

/** Outputs and log-dets of forward and inverse are all finite (no NaN, no ±Infinity). */
export function checkFinite(bijector: Bijector, x: tf.Tensor): void {
  const who = `checkFinite(${describe(bijector)})`;
  const parts = tf.tidy(() => {
    const fwd = bijector.forwardAndLogDet(x);
    const inv = bijector.inverseAndLogDet(fwd.y);
    return [
      ['forward y', readData(fwd.y)],
      ['forward logDet', readData(fwd.logDet)],
      ['inverse x', readData(inv.x)],
      ['inverse logDet', readData(inv.logDet)],
    ] as const;
  });
  for (const [name, values] of parts) {
    const i = values.findIndex((v) => !Number.isFinite(v));
    if (i >= 0)
      throw new Error(`${who}: ${name} has a non-finite value ${values[i]} at flat index ${i}`);
  }
}

/**
 * `fn` leaves no tensors behind: after one warm-up call (which may create lazily cached
 * tensors), `tf.memory().numTensors` must not grow over `iterations` (default 3) more calls.
 * `fn` must dispose whatever it creates, e.g. by running its work in `tf.tidy`.
 */
export function checkNoTensorLeak(
  fn: () => unknown,
  options: { iterations?: number; label?: string } = {},
): void {
  const { iterations = 3, label = 'fn' } = options;
  const run = () => {
    const result = fn();
    if (result instanceof Promise) {
      throw new Error(`checkNoTensorLeak(${label}): fn must be synchronous, it returned a Promise`);
    }
  };
  run();
  const before = tf.memory().numTensors;
  for (let i = 0; i < iterations; i++) run();
  const after = tf.memory().numTensors;
  if (after > before) {
    throw new Error(
      `checkNoTensorLeak(${label}): ${after - before} tensors leaked over ${iterations} calls ` +
        `(${(after - before) / iterations} per call); wrap intermediate work in tf.tidy or dispose it`,
    );
  }
}

/**
 * The bijector's own methods do not leak: forward, inverse, the derived methods, and a gradient
 * step through forward, each disposing its results, leave `numTensors` unchanged.
 */
export function checkBijectorNoTensorLeak(
  bijector: Bijector,
  x: tf.Tensor,
  options: { iterations?: number } = {},
): void {
  checkNoTensorLeak(
    () => {
      const fwd = bijector.forwardAndLogDet(x);
      const inv = bijector.inverseAndLogDet(fwd.y);
      tf.dispose([fwd.y, fwd.logDet, inv.x, inv.logDet]);
      const y = bijector.forward(x);
      tf.dispose([y, bijector.inverse(y), bijector.forwardLogDet(x), bijector.inverseLogDet(y)]);
      y.dispose();
      const vars = bijector.trainableVariables();
      if (vars.length > 0) {
        const { value, grads } = tf.variableGrads(() => lossOf(bijector, x), vars);
        tf.dispose([value, ...Object.values(grads)]);
      }
    },
    { ...options, label: describe(bijector) },
  );
}

/** A scalar that depends on every output and on the log-det: mean(½‖y‖² − logDet). */
function lossOf(bijector: Bijector, x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const { y, logDet } = bijector.forwardAndLogDet(x);
    const perExample = tf.sum(tf.reshape(tf.square(y), [y.shape[0]!, -1]), 1);
    return tf.mean(tf.sub(tf.mul(perExample, 0.5), logDet)) as tf.Scalar;
  });
}

/**
 * Gradients flow: the loss mean(½‖y‖² − logDet) has a finite gradient with respect to x and to
 * every trainable variable, and every trainable variable is connected to it. Catches ops whose
 * gradient is missing on the active backend (e.g. `gather` on wasm).
 */
export function checkGradients(bijector: Bijector, x: tf.Tensor): void {
  const who = `checkGradients(${describe(bijector)})`;
  const named = bijector.variables();
  const xVar = tf.variable(x, true);
  try {
    const trainable = Object.entries(named).filter(([, v]) => v.trainable);
    const varList = [xVar, ...trainable.map(([, v]) => v)];
    let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
    try {
      result = tf.variableGrads(() => lossOf(bijector, xVar), varList);
    } catch (cause) {
      throw new Error(
        `${who}: taking gradients failed on backend '${tf.getBackend()}': ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
    try {
      const check = (label: string, v: tf.Variable) => {
        const g = result.grads[v.name];
        if (!g) throw new Error(`${who}: ${label} gets no gradient (not connected to y or logDet)`);
        if (!tf.util.arraysEqual(g.shape, v.shape)) {
          throw new Error(
            `${who}: gradient of ${label} has shape ${shapeStr(g.shape)}, expected ${shapeStr(v.shape)}`,
          );
        }
        const values = readData(g);
        const i = values.findIndex((e) => !Number.isFinite(e));
        if (i >= 0)
          throw new Error(
            `${who}: gradient of ${label} has a non-finite value ${values[i]} at index ${i}`,
          );
      };
      check('the input x', xVar);
      for (const [name, v] of trainable) check(`variable '${name}'`, v);
    } finally {
      tf.dispose([result.value, ...Object.values(result.grads)]);
    }
  } finally {
    xVar.dispose();
  }
}

/**
 * `getConfig()` survives JSON, {@link bijectorFromConfig} rebuilds the bijector, and after
 * copying the variables by name the rebuilt copy gives the same outputs and log-dets.
 */
export function checkConfigRoundTrip(
  bijector: Bijector,
  x: tf.Tensor,
  options: Tolerance = {},
): void {
  const { atol = 1e-5, rtol = 1e-5 } = options;
  const who = `checkConfigRoundTrip(${describe(bijector)})`;
  const config = bijector.getConfig();
  const json = JSON.stringify(config);
  const parsed = JSON.parse(json);
  if (JSON.stringify(parsed) !== json)
    throw new Error(`${who}: getConfig() is not JSON-stable: ${json}`);
  const rebuilt = bijectorFromConfig(parsed);
  try {
    if (rebuilt.type !== bijector.type) {
      throw new Error(`${who}: rebuilt a '${rebuilt.type}' from config of type '${bijector.type}'`);
    }
    const rebuiltJson = JSON.stringify(rebuilt.getConfig());
    if (rebuiltJson !== json) {
      throw new Error(
        `${who}: config changed across the round trip:\n  before ${json}\n  after  ${rebuiltJson}`,
      );
    }
    try {
      assignVariables(rebuilt.variables(), bijector.variables(), 'the original bijector');
    } catch (cause) {
      throw new Error(
        `${who}: variables of the rebuilt bijector differ: ${(cause as Error).message}`,
        { cause },
      );
    }
    const [yA, ldA, yB, ldB] = tf.tidy(() => {
      const a = bijector.forwardAndLogDet(x);
      const b = rebuilt.forwardAndLogDet(x);
      return [readData(a.y), readData(a.logDet), readData(b.y), readData(b.logDet)];
    });
    const badY = worstMismatch(yB, yA, atol, rtol);
    if (badY) {
      throw new Error(
        `${who}: rebuilt forward differs at flat index ${badY.index}: ${badY.actual} vs ${badY.expected}`,
      );
    }
    const badLd = worstMismatch(ldB, ldA, atol, rtol);
    if (badLd) {
      throw new Error(
        `${who}: rebuilt log-det differs for example ${badLd.index}: ${badLd.actual} vs ${badLd.expected}`,
      );
    }
  } finally {
    rebuilt.dispose();
  }
}

/**
 * Each shape in `badInputShapes` makes `forward` throw a {@link ShapeError}, and each shape in
 * `options.badOutputShapes` makes `inverse` throw one (checked by tag, so it works across
 * duplicate installs of this package).
 */
export function checkBadInputRejected(
  bijector: Bijector,
  badInputShapes: number[][],
  options: { badOutputShapes?: number[][] } = {},
): void {
  const who = `checkBadInputRejected(${describe(bijector)})`;
  const badOutputShapes = options.badOutputShapes ?? [];
  if (badInputShapes.length + badOutputShapes.length === 0) {
    throw new Error(`${who}: give at least one bad shape`);
  }
  const attempts: Array<['forward' | 'inverse', number[]]> = [
    ...badInputShapes.map((s) => ['forward', s] as ['forward', number[]]),
    ...badOutputShapes.map((s) => ['inverse', s] as ['inverse', number[]]),
  ];
  for (const [direction, shape] of attempts) {
    tf.tidy(() => {
      const input = tf.zeros(shape);
      let thrown: unknown = null;
      try {
        const out =
          direction === 'forward'
            ? bijector.forwardAndLogDet(input)
            : bijector.inverseAndLogDet(input);
        tf.dispose(Object.values(out) as tf.Tensor[]);
      } catch (e) {
        thrown = e;
      }
      if (thrown === null) {
        throw new Error(
          `${who}: ${direction} accepted an input of shape ${shapeStr(shape)}; expected a ShapeError`,
        );
      }
      if (!ShapeError.isInstance(thrown)) {
        throw new Error(
          `${who}: ${direction} on shape ${shapeStr(shape)} threw ${(thrown as Error)?.name ?? typeof thrown} ` +
            `("${(thrown as Error)?.message}") instead of a ShapeError`,
        );
      }
    });
  }
}
