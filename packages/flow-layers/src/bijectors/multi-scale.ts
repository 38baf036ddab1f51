import * as tf from '@tensorflow/tfjs-core';
import {
  Bijector,
  type BijectorConfig,
  bijectorFromConfig,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
  prefixVariables,
  registerBijector,
} from '../bijector.js';
import { ConfigError, ShapeError } from '../errors.js';
import { Squeeze } from './squeeze.js';

/** Options of {@link MultiScale}. */
export interface MultiScaleOptions {
  /**
   * One flow per level (e.g. a `Chain` of K flow steps), each acting on the SQUEEZED tensor of
   * its level: level k sees `[B, H/2^(k+1), W/2^(k+1), C_k]` (see {@link MultiScale.levelShapes}).
   */
  levels: Bijector[];
  /**
   * Optional NHWC event shape `[H, W, C]` of the input. When set, inputs must have it, and the
   * flat-to-image inverse uses it; when not set, the inverse infers it (see `inverseShape`).
   */
  eventShape?: [number, number, number];
}

/** Shapes at one level of a {@link MultiScale} flow, all NHWC with the batch axis. */
export interface LevelShapes {
  /** What the level's flow acts on (after the squeeze). */
  flow: [number, number, number, number];
  /** The latent factored out at this level (first half of the channels; all of them at the last level). */
  latent: [number, number, number, number];
}

/** Result of {@link MultiScale.forwardLevels}. */
export interface LevelsResult {
  /** Latent z_k of each level, NHWC. */
  latents: tf.Tensor4D[];
  /** F_k: log-det of each level's squeeze + flow, per example (shape `[batch]`), in nats. */
  logDets: tf.Tensor1D[];
}

/**
 * Flattens an NHWC tensor in NCHW order (`c·H·W + h·W + w`), the order of the reference code's
 * `view(B, −1)` (spec 10.3), so per-dimension prior parameters line up with PyTorch checkpoints.
 */
export function flattenNchw(x: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [x.shape[0], -1]) as tf.Tensor2D);
}

/** Inverse of {@link flattenNchw}: `[B, C·H·W]` back to NHWC `[B, H, W, C]`. */
export function unflattenNchw(flat: tf.Tensor, [b, h, w, c]: readonly number[]): tf.Tensor4D {
  return tf.tidy(
    () => tf.transpose(tf.reshape(flat, [b!, c!, h!, w!]), [0, 2, 3, 1]) as tf.Tensor4D,
  );
}

/**
 * The multi-scale Glow graph (spec 3.1). For levels k = 0..L−1: squeeze (factor 2, spec order)
 * → `levels[k]` → unless k is the last level, split the channels: `z_k` = FIRST half
 * `[0, C/2)` is factored out, the second half goes on to level k+1; the last level's latent is
 * its whole output.
 *
 * As a {@link Bijector} it maps NHWC `[B, H, W, C]` to `[B, D]`: the concatenation over levels
 * of each latent flattened in NCHW order ({@link flattenNchw}), with log-det Σ_k F_k. Use
 * {@link forwardLevels} to get the per-level latents and log-dets (for per-scale priors and
 * per-scale scores).
 *
 * Variables are named `<level>.<name in that level>`; owns its levels (`dispose` disposes them).
 */
export class MultiScale extends Bijector {
  readonly type = 'MultiScale';
  readonly levels: readonly Bijector[];
  readonly eventShape: readonly [number, number, number] | null;
  private readonly squeeze = new Squeeze();

  constructor(options: MultiScaleOptions) {
    super();
    const { levels } = options;
    if (!Array.isArray(levels) || levels.length === 0) {
      throw new ConfigError('MultiScale needs a non-empty array `levels` (one flow per level)');
    }
    const bad = levels.findIndex((b) => !(b instanceof Bijector));
    if (bad >= 0) throw new ConfigError(`MultiScale: levels[${bad}] is not a Bijector`);
    this.levels = [...levels];
    const { eventShape } = options;
    if (eventShape !== undefined && eventShape !== null) {
      if (
        !(
          Array.isArray(eventShape) &&
          eventShape.length === 3 &&
          eventShape.every((d) => Number.isInteger(d) && d > 0)
        )
      ) {
        throw new ConfigError(
          `MultiScale: 'eventShape' must be [H, W, C] positive integers, got ${JSON.stringify(eventShape)}`,
        );
      }
      MultiScale.levelShapes([1, ...eventShape], levels.length);
      this.eventShape = [...eventShape] as [number, number, number];
    } else {
      this.eventShape = null;
    }
  }

  /**
   * Flow and latent shapes of each level for an NHWC input shape (batch first), without
   * building anything. E.g. `[B, 32, 32, 3]` with 3 levels gives flows on `[B,16,16,12]`,
   * `[B,8,8,24]`, `[B,4,4,48]` and latents `[B,16,16,6]`, `[B,8,8,12]`, `[B,4,4,48]`.
   */
  static levelShapes(inputShape: readonly number[], numLevels: number): LevelShapes[] {
    if (!(Number.isInteger(numLevels) && numLevels >= 1)) {
      throw new ConfigError(
        `MultiScale: the number of levels must be a positive integer, got ${numLevels}`,
      );
    }
    if (inputShape.length !== 4) {
      throw new ShapeError(`MultiScale expects a rank-4 NHWC input, got shape [${inputShape}]`);
    }
    const [b, h, w, c] = inputShape as [number, number, number, number];
    const f = 2 ** numLevels;
    if (h % f !== 0 || w % f !== 0) {
      throw new ShapeError(
        `MultiScale with ${numLevels} levels squeezes ${numLevels} times, so height and width must be ` +
          `divisible by ${f}; got an NHWC input [${inputShape}]`,
      );
    }
    const out: LevelShapes[] = [];
    let [hk, wk, ck] = [h, w, c];
    for (let k = 0; k < numLevels; k++) {
      hk /= 2;
      wk /= 2;
      ck *= 4;
      const last = k === numLevels - 1;
      out.push({ flow: [b, hk, wk, ck], latent: [b, hk, wk, last ? ck : ck / 2] });
      if (!last) ck /= 2;
    }
    return out;
  }

  /** Latent shapes (NHWC, batch first) per level; see {@link MultiScale.levelShapes}. */
  static latentShapes(
    inputShape: readonly number[],
    numLevels: number,
  ): Array<[number, number, number, number]> {
    return MultiScale.levelShapes(inputShape, numLevels).map((s) => s.latent);
  }

  /** Runs every level and returns each level's latent z_k (NHWC) and log-det F_k. */
  forwardLevels(x: tf.Tensor): LevelsResult {
    this.checkEventShape(x.shape);
    const shapes = MultiScale.levelShapes(x.shape, this.levels.length);
    const flat = tf.tidy(() => {
      const out: tf.Tensor[] = [];
      let h = x;
      for (let k = 0; k < this.levels.length; k++) {
        const squeezed = this.squeeze.forward(h);
        const step = this.levels[k]!.forwardAndLogDet(squeezed);
        const expected = shapes[k]!.flow;
        if (!tf.util.arraysEqual(step.y.shape, expected)) {
          throw new ShapeError(
            `MultiScale: level ${k}'s flow changed the shape from [${expected}] to [${step.y.shape}]; ` +
              `a level's flow must keep its shape`,
          );
        }
        if (k === this.levels.length - 1) {
          out.push(step.y, step.logDet);
        } else {
          const half = expected[3] / 2;
          const [z, rest] = tf.split(step.y, [half, half], 3);
          out.push(z!, step.logDet);
          h = rest!;
        }
      }
      return out;
    });
    return {
      latents: flat.filter((_, i) => i % 2 === 0) as tf.Tensor4D[],
      logDets: flat.filter((_, i) => i % 2 === 1) as tf.Tensor1D[],
    };
  }

  /**
   * Inverse of {@link forwardLevels}: rebuilds x (NHWC) from the latents of every level.
   * Also returns the inverse log-det −Σ_k F_k.
   */
  inverseLevels(latents: tf.Tensor[]): { x: tf.Tensor4D; logDet: tf.Tensor1D } {
    const n = this.levels.length;
    if (!Array.isArray(latents) || latents.length !== n) {
      throw new ShapeError(
        `MultiScale.inverseLevels needs ${n} latents (one per level), got ${latents?.length}`,
      );
    }
    const first = latents[0]!;
    if (first.rank !== 4) {
      throw new ShapeError(
        `MultiScale.inverseLevels: latents must be NHWC rank-4, got [${first.shape}]`,
      );
    }
    const [b, h0, w0, c0] = first.shape as [number, number, number, number];
    // Level 0's flow runs on [B, h0, w0, 2·c0] (c0 alone if there is one level).
    const inputShape = [b, h0 * 2, w0 * 2, n === 1 ? c0 / 4 : c0 / 2];
    if (!Number.isInteger(inputShape[3]) || inputShape[3] === 0) {
      throw new ShapeError(
        `MultiScale.inverseLevels: level-0 latent [${first.shape}] has a channel count that no input gives`,
      );
    }
    this.checkEventShape(inputShape);
    const shapes = MultiScale.levelShapes(inputShape, n);
    latents.forEach((z, k) => {
      if (!tf.util.arraysEqual(z.shape, shapes[k]!.latent)) {
        throw new ShapeError(
          `MultiScale.inverseLevels: latent ${k} has shape [${z.shape}], expected [${shapes[k]!.latent}] ` +
            `for an input [${inputShape}]`,
        );
      }
    });
    return tf.tidy(() => {
      let h: tf.Tensor = latents[n - 1]!;
      let logDet: tf.Tensor1D | null = null;
      for (let k = n - 1; k >= 0; k--) {
        if (k < n - 1) h = tf.concat([latents[k]!, h], 3);
        const step = this.levels[k]!.inverseAndLogDet(h);
        logDet = logDet === null ? step.logDet : (tf.add(logDet, step.logDet) as tf.Tensor1D);
        h = this.squeeze.inverse(step.x);
      }
      return { x: h as tf.Tensor4D, logDet: logDet! };
    });
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    const { latents, logDets } = this.forwardLevels(x);
    return tf.tidy(() => {
      const y = tf.concat(
        latents.map((z) => flattenNchw(z)),
        1,
      );
      const logDet =
        logDets.length === 1 ? tf.clone(logDets[0]!) : (tf.addN(logDets) as tf.Tensor1D);
      tf.dispose([...latents, ...logDets]);
      return { y, logDet };
    });
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    const shapes = this.shapesForFlat(y.shape);
    const latents = tf.tidy(() => {
      const sizes = shapes.map(({ latent: [, h, w, c] }) => h * w * c);
      return tf.split(y, sizes, 1).map((part, k) => unflattenNchw(part, shapes[k]!.latent));
    });
    try {
      return this.inverseLevels(latents);
    } finally {
      tf.dispose(latents);
    }
  }

  override forwardShape(inputShape: readonly number[]): number[] {
    this.checkEventShape(inputShape);
    MultiScale.levelShapes(inputShape, this.levels.length);
    const [b, h, w, c] = inputShape as [number, number, number, number];
    return [b, h * w * c];
  }

  /**
   * The image shape for a flat `[B, D]` output: the `eventShape` option when set, otherwise
   * inferred (see `shapesForFlat`).
   */
  override inverseShape(outputShape: readonly number[]): number[] {
    const [b, h, w] = this.shapesForFlat(outputShape)[0]!.flow;
    return [b, h * 2, w * 2, outputShape[1]! / (h * 2 * w * 2)];
  }

  override variables(): NamedVariables {
    return Object.assign(
      {},
      ...this.levels.map((l, k) => prefixVariables(String(k), l.variables())),
    );
  }

  getConfig(): BijectorConfig {
    const config: BijectorConfig = {
      type: this.type,
      levels: this.levels.map((l) => l.getConfig()),
    };
    if (this.eventShape) config.eventShape = [...this.eventShape];
    return config;
  }

  override dispose(): void {
    for (const l of this.levels) l.dispose();
  }

  private checkEventShape(shape: readonly number[]): void {
    if (this.eventShape && !tf.util.arraysEqual(shape.slice(1), [...this.eventShape])) {
      throw new ShapeError(
        `MultiScale was built for NHWC inputs [batch, ${this.eventShape.join(', ')}], got [${shape}]`,
      );
    }
  }

  /**
   * Level shapes for a flat `[B, D]` output. With `eventShape` set, that. Otherwise D alone does
   * not fix (H, W, C): try square images H = W (multiples of 2^L) with H·W·C = D and keep those
   * whose per-level flow shapes every level's `forwardShape` accepts; exactly one must remain.
   */
  private shapesForFlat(shape: readonly number[]): LevelShapes[] {
    if (shape.length !== 2) {
      throw new ShapeError(`MultiScale inverse expects a flat [batch, D] tensor, got [${shape}]`);
    }
    const [b, d] = shape as [number, number];
    const n = this.levels.length;
    if (this.eventShape) {
      const [h, w, c] = this.eventShape;
      if (h * w * c !== d) {
        throw new ShapeError(
          `MultiScale inverse expects [batch, ${h * w * c}] (= ${h}·${w}·${c}), got [${shape}]`,
        );
      }
      return MultiScale.levelShapes([b, h, w, c], n);
    }
    const f = 2 ** n;
    const accepted: LevelShapes[][] = [];
    for (let side = f; side * side <= d; side += f) {
      if (d % (side * side) !== 0) continue;
      const shapes = MultiScale.levelShapes([b, side, side, d / (side * side)], n);
      if (shapes.every((s, k) => this.levelAccepts(k, s.flow))) accepted.push(shapes);
    }
    if (accepted.length !== 1) {
      const which = accepted.map(
        (s) => `[${s[0]!.flow[1]! * 2}, ${s[0]!.flow[2]! * 2}, ${s[0]!.flow[3]! / 4}]`,
      );
      throw new ShapeError(
        `MultiScale inverse: cannot tell the image shape from [${shape}] ` +
          `(${accepted.length === 0 ? 'no square NHWC image fits the levels' : `candidates ${which.join(', ')}`}); ` +
          `pass 'eventShape' to the constructor, or call inverseLevels with the per-level latents`,
      );
    }
    return accepted[0]!;
  }

  private levelAccepts(k: number, flowShape: number[]): boolean {
    try {
      this.levels[k]!.forwardShape(flowShape);
      return true;
    } catch (e) {
      if (ShapeError.isInstance(e)) return false;
      throw e;
    }
  }
}

registerBijector('MultiScale', (config) => {
  const levels = config.levels;
  if (!Array.isArray(levels)) {
    throw new ConfigError(
      `MultiScale config needs a 'levels' array, got ${JSON.stringify(config)}`,
    );
  }
  const eventShape = config.eventShape as [number, number, number] | undefined;
  return new MultiScale({
    levels: levels.map((c) => bijectorFromConfig(c as BijectorConfig)),
    ...(eventShape ? { eventShape } : {}),
  });
});
