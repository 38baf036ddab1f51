import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, NotInvertibleError, ShapeError } from './errors.js';

/** Result of a forward pass: output and per-example log|det dy/dx| in nats, shape `[batch]`. */
export interface ForwardResult {
  y: tf.Tensor;
  logDet: tf.Tensor1D;
}

/** Result of an inverse pass: input and per-example log|det dx/dy| in nats, shape `[batch]`. */
export interface InverseResult {
  x: tf.Tensor;
  logDet: tf.Tensor1D;
}

/** JSON-serialisable description of a bijector: `type` picks the class in the registry. */
export interface BijectorConfig {
  type: string;
  [key: string]: unknown;
}

/** Variables by local, dot-separated name (`"actnorm.loc"`); includes non-trainable buffers. */
export type NamedVariables = Record<string, tf.Variable>;

/**
 * The bijector contract (after distrax): one required method, {@link forwardAndLogDet}; the
 * inverse twin is optional and raises {@link NotInvertibleError} naming the bijector. `forward`,
 * `inverse` and the log-det-only methods are derived here.
 *
 * Conventions: images are NHWC; the first axis is always the batch; log-dets are per example
 * (shape `[batch]`) in nats. Bijectors are plain classes holding `tf.Variable`s.
 */
export abstract class Bijector {
  /** Registry key used by {@link bijectorFromConfig}. */
  abstract readonly type: string;

  abstract forwardAndLogDet(x: tf.Tensor): ForwardResult;

  inverseAndLogDet(_y: tf.Tensor): InverseResult {
    throw new NotInvertibleError(`${this.type} has no inverse.`);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.forwardAndLogDet(x).y);
  }

  inverse(y: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.inverseAndLogDet(y).x);
  }

  forwardLogDet(x: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => this.forwardAndLogDet(x).logDet);
  }

  inverseLogDet(y: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => this.inverseAndLogDet(y).logDet);
  }

  /**
   * Output shape for an input shape (both with the batch axis). Throws {@link ShapeError} for
   * an input this bijector cannot take. The default keeps the shape, after {@link checkShape}.
   */
  forwardShape(inputShape: readonly number[]): number[] {
    this.checkShape(inputShape);
    return [...inputShape];
  }

  /** Input shape for an output shape; the default keeps the shape, after {@link checkShape}. */
  inverseShape(outputShape: readonly number[]): number[] {
    this.checkShape(outputShape);
    return [...outputShape];
  }

  /**
   * Validation hook of shape-preserving bijectors: throw a {@link ShapeError} for a shape (with
   * the batch axis) this bijector cannot take. The default accepts any shape.
   */
  protected checkShape(_shape: readonly number[]): void {}

  /** All variables, trainable or not (fixed permutations and signs are non-trainable buffers). */
  variables(): NamedVariables {
    return {};
  }

  trainableVariables(): tf.Variable[] {
    return Object.values(this.variables()).filter((v) => v.trainable);
  }

  abstract getConfig(): BijectorConfig;

  /** Disposes every variable this bijector owns. */
  dispose(): void {
    for (const v of Object.values(this.variables())) v.dispose();
  }
}

/**
 * A `tf.Variable` holding `initial`, which it takes over: the initial tensor is disposed, so
 * building and disposing a layer leaves nothing behind (`tf.variable` alone keeps it alive).
 */
export function ownedVariable(initial: tf.Tensor, trainable: boolean): tf.Variable {
  const v = tf.variable(initial, trainable);
  initial.dispose();
  return v;
}

/** Prefixes every name of `vars` with `prefix.`; for composites. */
export function prefixVariables(prefix: string, vars: NamedVariables): NamedVariables {
  const out: NamedVariables = {};
  for (const [k, v] of Object.entries(vars)) out[`${prefix}.${k}`] = v;
  return out;
}

/**
 * Copies values into a bijector's variables by name. Every variable must be present with the
 * same shape; extra entries are an error too, so a mismatched checkpoint never half-loads.
 */
export function assignVariables(
  target: NamedVariables,
  values: Record<string, tf.Tensor>,
  source = 'weights',
): void {
  const missing = Object.keys(target).filter((k) => !(k in values));
  const extra = Object.keys(values).filter((k) => !(k in target));
  if (missing.length > 0 || extra.length > 0) {
    throw new ConfigError(
      `${source} do not match the model: ` +
        [
          missing.length
            ? `missing ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`
            : '',
          extra.length
            ? `unexpected ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', ...' : ''}`
            : '',
        ]
          .filter(Boolean)
          .join('; '),
    );
  }
  for (const [k, v] of Object.entries(target)) {
    const value = values[k]!;
    if (!tf.util.arraysEqual(v.shape, value.shape)) {
      throw new ConfigError(
        `${source}: '${k}' has shape [${value.shape}], the model expects [${v.shape}]`,
      );
    }
    v.assign(value.dtype === v.dtype ? value : tf.cast(value, v.dtype));
  }
}

/** Throws a {@link ShapeError} naming `who` unless `x` has the given rank. */
export function assertRank(
  who: string,
  x: tf.Tensor,
  rank: number,
  layout = rank === 4 ? 'NHWC' : '',
): void {
  if (x.rank !== rank) {
    throw new ShapeError(
      `${who} expects a rank-${rank}${layout ? ` ${layout}` : ''} tensor, got shape [${x.shape}]`,
    );
  }
}

/** A per-example constant log-det: `value` broadcast to `[batch]`. */
export function constantLogDet(batch: number, value: tf.Scalar | number): tf.Tensor1D {
  return tf.tidy(() => tf.mul(tf.ones([batch]), value) as tf.Tensor1D);
}

// ---------------------------------------------------------------------------------------------
// Registry: fromConfig for every bijector type, including composites.

type Factory = (config: BijectorConfig) => Bijector;
const registry = new Map<string, Factory>();

/** Registers a bijector type so {@link bijectorFromConfig} can rebuild it. */
export function registerBijector(type: string, factory: Factory): void {
  registry.set(type, factory);
}

/** Rebuilds a bijector (fresh variables) from its {@link Bijector.getConfig} output. */
export function bijectorFromConfig(config: BijectorConfig): Bijector {
  const factory = registry.get(config.type);
  if (!factory) {
    throw new ConfigError(
      `Unknown bijector type '${config.type}'. Known: ${[...registry.keys()].sort().join(', ')}`,
    );
  }
  return factory(config);
}

// ---------------------------------------------------------------------------------------------
// Data-dependent initialisation.

let initPassId = 0;
let initActive = false;

/**
 * Runs `fn` (normally one forward pass over an initialisation batch) in data-init mode: every
 * data-initialisable layer (ActNorm) that runs sets its parameters from the data it receives
 * and then applies them at once, so later layers see normalised activations (spec 3.6).
 * Each layer initialises once per call, even if it runs twice.
 */
export function withDataInit<T>(fn: () => T): T {
  if (initActive) throw new ConfigError('withDataInit calls cannot be nested');
  initActive = true;
  initPassId += 1;
  try {
    return fn();
  } finally {
    initActive = false;
  }
}

/** The id of the running data-init pass, or null outside {@link withDataInit}. */
export function activeDataInitPass(): number | null {
  return initActive ? initPassId : null;
}
