import {
  ConfigError,
  type NamedVariables,
  ShapeError,
  type VariableGradients,
  withDataInit,
} from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { configNumDims, type ModelConfig } from './config.js';
import { standardNormalLogProb } from './layout.js';
import type { ScaleForwardOptions, ScaleStack, ScaleTerms } from './scale-stack.js';

/**
 * A forward pass kept for reversible backprop (see {@link ScaleModel.reversibleForward}): the
 * per-scale terms as `leaves` (latents, then F_k, then A_k, per stack row), the model's
 * log-density head on them, and the backward pass through the stack.
 */
export class ScaleReversiblePass {
  /** The tensors the head reads: u_0..u_{L−1}, F_0..F_{L−1}, A_0..A_{L−1}. */
  readonly leaves: readonly tf.Tensor[];

  constructor(
    private readonly stack: ScaleStack,
    private readonly terms: ScaleTerms,
    private readonly head: (terms: ScaleTerms) => LogProbResult,
  ) {
    this.leaves = [...terms.latents, ...terms.flowLogDets, ...terms.priorLogDets];
  }

  /** The model's `logProb` result computed from the leaves; run it under the gradient tape. */
  output(): LogProbResult {
    return this.head(this.terms);
  }

  /**
   * Adds the stack's variable gradients to `into`, given the loss's gradients with respect to
   * {@link leaves} in the same order (`undefined`: the loss does not read that leaf).
   */
  backward(leafGradients: readonly (tf.Tensor | undefined)[], into: VariableGradients): void {
    const L = this.terms.latents.length;
    if (leafGradients.length !== 3 * L) {
      throw new ShapeError(
        `ScaleReversiblePass.backward: expected ${3 * L} leaf gradients, got ${leafGradients.length}`,
      );
    }
    if (leafGradients.every((g) => g === undefined)) return;
    this.stack.backward(
      this.terms.levelOutputs!,
      {
        latents: leafGradients.slice(0, L),
        flowLogDets: leafGradients.slice(L, 2 * L),
        priorLogDets: leafGradients.slice(2 * L),
      },
      into,
    );
  }

  dispose(): void {
    tf.dispose([...this.leaves, ...(this.terms.levelOutputs ?? []).map((o) => o.y)]);
  }
}

/**
 * Per-example log-density of a batch (spec 3.7, 4). All values are per image, `[batch]`.
 */
export interface LogProbResult {
  /** log p(x) in nats, for x in the [−0.5, 0.5) cube. */
  logP: tf.Tensor1D;
  /**
   * lp_k = F_k + A_k + Z_k for every scale k, finest first (spec 3.7): the flow log-det of
   * scale k, its prior's log-det, and the standard-normal log-density of its latents. They sum
   * to `logP`; `perScale[L−1]` is the log-density the last scale gives to its input h_{L−1}.
   */
  perScale: tf.Tensor1D[];
  /** Discrete NLL in bits per dimension: `(−logP + D ln 256) / (D ln 2)` (spec 4). */
  bitsPerDim: tf.Tensor1D;
}

/** The three terms behind {@link LogProbResult.perScale}, per scale, per image, nats. */
export interface ScaleLogProbTerms {
  /** F_k: log-det of scale k's flow (squeeze + K steps). */
  flowLogDets: tf.Tensor1D[];
  /** A_k: log-det of scale k's prior bijection z_k → u_k. */
  priorLogDets: tf.Tensor1D[];
  /** Z_k: log N(u_k; 0, I). */
  baseLogProbs: tf.Tensor1D[];
}

/** Options of {@link ScaleModel.sample}. */
export interface SampleOptions {
  /** Std of the latents: u_k ~ N(0, temperature²·I). Default 1. */
  temperature?: number;
  /** Seed of the latent draws (scale k uses seed + k); random when omitted. */
  seed?: number;
}

/** The flow part of a model as a map from images to all latents, with its log-det. */
export interface FlowResult {
  /** u_k per scale, as returned by {@link ScaleModel.encode}. */
  latents: tf.Tensor4D[];
  /** Σ_k (F_k + A_k) per image, nats. */
  logDet: tf.Tensor1D;
}

/**
 * What every hierglow density model offers, whatever its kind: the trainer, the checkpoint code
 * and the scores depend on this interface only.
 */
export interface FlowModel {
  readonly kind: ModelConfig['kind'];
  /** D = height · width · channels of the images. */
  readonly numDims: number;
  /** `[height, width, channels]` of the NHWC images the model takes. */
  readonly inputShape: readonly number[];
  logProb(x: tf.Tensor): LogProbResult;
  encode(x: tf.Tensor): tf.Tensor4D[];
  decode(latents: readonly tf.Tensor[]): tf.Tensor4D;
  sample(n: number, options?: SampleOptions): tf.Tensor4D;
  initialize(x: tf.Tensor): void;
  variables(): NamedVariables;
  trainableVariables(): tf.Variable[];
  getConfig(): ModelConfig;
  dispose(): void;
}

const LN2 = Math.LN2;
const LN256 = Math.log(256);

/**
 * Shared machinery of the models built on a {@link ScaleStack}: input checks, the per-scale
 * decomposition, bits/dim, encode/decode/sample and data-dependent init. Subclasses choose the
 * scales and, for the patch model, how images map to the stack's batch.
 */
export abstract class ScaleModel<C extends ModelConfig = ModelConfig> implements FlowModel {
  readonly config: C;
  readonly numDims: number;
  readonly inputShape: readonly number[];
  /** `[H_k, W_k, C_k]` of each scale's latents u_k (per patch for the patch model). */
  readonly latentShapes: readonly (readonly number[])[];
  protected readonly stack: ScaleStack;

  protected constructor(config: C, stack: ScaleStack) {
    this.config = config;
    this.numDims = configNumDims(config);
    this.inputShape = [config.height, config.width, config.channels];
    this.stack = stack;
    this.latentShapes = stack.levels.map((level) => level.prior.shape);
  }

  get kind(): C['kind'] {
    return this.config.kind;
  }

  /** Number of scales (entries of `perScale` and of the latents). */
  get numScales(): number {
    return this.stack.levels.length;
  }

  /**
   * Per-example log p(x), its per-scale decomposition and bits/dim.
   *
   * @param x NHWC `[batch, height, width, channels]`, values in [−0.5, 0.5) (spec 2.1:
   *   `v/256 − 0.5`, plus dequantisation noise for training)
   */
  logProb(x: tf.Tensor): LogProbResult {
    this.checkImages(x, 'logProb');
    return tf.tidy(() => ({
      ...this.logProbFromTerms(this.stack.forward(this.toStack(x as tf.Tensor4D))),
    }));
  }

  /**
   * Runs the flow on `x` for reversible backprop: outside any gradient tape, keeping only the
   * per-scale terms and each scale's output (no per-step activations). The trainer takes the
   * loss's gradient with respect to the pass's `leaves` by autodiff of {@link
   * ScaleReversiblePass.output} (this model's {@link logProb} head on those leaves), then calls
   * its `backward`. The caller disposes the pass.
   */
  reversibleForward(x: tf.Tensor): ScaleReversiblePass {
    this.checkImages(x, 'reversibleForward');
    const input = this.toStack(x as tf.Tensor4D);
    let terms: ScaleTerms;
    try {
      terms = this.stack.forward(input, { keepLevelOutputs: true });
    } finally {
      if (input !== x) input.dispose();
    }
    return new ScaleReversiblePass(this.stack, terms, (t) => this.logProbFromTerms(t));
  }

  /**
   * The log-density head: {@link logProb}'s result from the stack's per-row terms (latents,
   * F_k, A_k). Differentiable with respect to those tensors and the head's own variables.
   */
  protected logProbFromTerms(terms: ScaleTerms): LogProbResult {
    return tf.tidy(() => {
      const flowLogDets = terms.flowLogDets.map((t) => this.perImage(t));
      const priorLogDets = terms.priorLogDets.map((t) => this.perImage(t));
      const baseLogProbs = terms.latents.map((u) => this.perImage(standardNormalLogProb(u)));
      const perScale = flowLogDets.map(
        (f, k) => tf.add(tf.add(f, priorLogDets[k]!), baseLogProbs[k]!) as tf.Tensor1D,
      );
      // Summed term by term, not as Σ perScale, so the test that Σ perScale = logP compares two
      // different summations.
      const logP = tf.add(
        tf.add(tf.addN(flowLogDets), tf.addN(priorLogDets)),
        tf.addN(baseLogProbs),
      ) as tf.Tensor1D;
      const bitsPerDim = tf.div(
        tf.sub(this.numDims * LN256, logP),
        this.numDims * LN2,
      ) as tf.Tensor1D;
      return { logP, perScale, bitsPerDim };
    });
  }

  /** F_k, A_k and Z_k per scale and image (spec 3.7), for analysis; see {@link logProb}. */
  logProbTerms(x: tf.Tensor): ScaleLogProbTerms {
    this.checkImages(x, 'logProbTerms');
    return tf.tidy(() => {
      const terms = this.stack.forward(this.toStack(x as tf.Tensor4D));
      return {
        flowLogDets: terms.flowLogDets.map((t) => this.perImage(t)),
        priorLogDets: terms.priorLogDets.map((t) => this.perImage(t)),
        baseLogProbs: terms.latents.map((u) => this.perImage(standardNormalLogProb(u))),
      };
    });
  }

  /**
   * Low level, for tests and analysis: the stack's forward terms per stack row (per patch for
   * the patch model), optionally with every layer's log-det (`levels.{k}.{layer}`) and every
   * scale's input h_k. The caller disposes every returned tensor.
   */
  forwardScales(x: tf.Tensor, options: ScaleForwardOptions = {}): ScaleTerms {
    this.checkImages(x, 'forwardScales');
    const input = this.toStack(x as tf.Tensor4D);
    try {
      return this.stack.forward(input, options);
    } finally {
      if (input !== x) input.dispose();
    }
  }

  /**
   * The per-scale standard-normal latents u_k (after each scale's prior bijection: the
   * per-dimension ActNorm, or the conditional Gaussian's standardisation), NHWC, finest scale
   * first. {@link decode} inverts exactly this. For the patch model the batch axis runs over
   * patches: image b's patches are rows `b·P … b·P + P − 1`.
   */
  encode(x: tf.Tensor): tf.Tensor4D[] {
    this.checkImages(x, 'encode');
    return tf.tidy(() => {
      const { latents, logDet } = this.encodeWithLogDet(x);
      logDet.dispose();
      return latents;
    });
  }

  /** {@link encode} plus the log-det Σ_k (F_k + A_k) per image of the map x → latents. */
  encodeWithLogDet(x: tf.Tensor): FlowResult {
    this.checkImages(x, 'encodeWithLogDet');
    return tf.tidy(() => {
      const terms = this.stack.forward(this.toStack(x as tf.Tensor4D));
      const logDet = tf.add(tf.addN(terms.flowLogDets), tf.addN(terms.priorLogDets)) as tf.Tensor1D;
      return { latents: terms.latents, logDet: this.perImage(logDet) };
    });
  }

  /** Images (NHWC) from the latents {@link encode} returns. */
  decode(latents: readonly tf.Tensor[]): tf.Tensor4D {
    return tf.tidy(() => {
      const { x, logDet } = this.decodeWithLogDet(latents);
      logDet.dispose();
      return x;
    });
  }

  /** {@link decode} plus log|det ∂x/∂latents| per image (= −Σ_k (F_k + A_k)). */
  decodeWithLogDet(latents: readonly tf.Tensor[]): { x: tf.Tensor4D; logDet: tf.Tensor1D } {
    this.checkLatents(latents);
    return tf.tidy(() => {
      const { x, logDet } = this.stack.inverse(latents as tf.Tensor4D[]);
      return { x: this.fromStack(x), logDet: this.perImage(logDet) };
    });
  }

  /**
   * Draws `n` images (NHWC): u_k ~ N(0, temperature²·I) for every scale, then {@link decode}.
   * Values are not clipped to [−0.5, 0.5).
   */
  sample(n: number, options: SampleOptions = {}): tf.Tensor4D {
    const { temperature = 1, seed } = options;
    if (!Number.isInteger(n) || n < 1) {
      throw new ConfigError(`${this.kind}.sample: 'n' must be a positive integer, got ${n}`);
    }
    if (!(Number.isFinite(temperature) && temperature >= 0)) {
      throw new ConfigError(
        `${this.kind}.sample: 'temperature' must be a finite number >= 0, got ${temperature}`,
      );
    }
    if (seed !== undefined && !Number.isInteger(seed)) {
      throw new ConfigError(`${this.kind}.sample: 'seed' must be an integer, got ${seed}`);
    }
    return tf.tidy(() => {
      const batch = n * this.stackRowsPerImage();
      const latents = this.latentShapes.map((shape, k) =>
        tf.randomNormal(
          [batch, ...shape],
          0,
          temperature,
          'float32',
          seed === undefined ? undefined : seed + k,
        ),
      );
      return this.decode(latents);
    });
  }

  /**
   * Data-dependent initialisation (spec 3.6): one forward pass over `x` (the paper: 704 noisy,
   * augmented training images) in which every ActNorm (flow steps, coupling nets, priors) sets
   * itself from the data it sees and applies the result at once. Needs at least 2 images.
   */
  initialize(x: tf.Tensor): void {
    this.checkImages(x, 'initialize');
    if (x.shape[0]! < 2) {
      throw new ConfigError(
        `${this.kind}.initialize needs at least 2 images to estimate the std of every ActNorm, got ${x.shape[0]}; ` +
          'pass the initialisation batch (the paper uses 704 images)',
      );
    }
    withDataInit(() => {
      // Every tensor of the result, including what subclasses add to it.
      tf.dispose(this.logProb(x) as unknown as tf.TensorContainer);
    });
  }

  /**
   * Every variable, trainable or not, by hierarchical name (see the package README):
   * `levels.{k}.squeeze…`, `levels.{k}.steps.{j}.{actnorm|permute|coupling}.…`,
   * `levels.{k}.prior.…`. These are the tensor names of a checkpoint.
   */
  variables(): NamedVariables {
    return this.stack.variables();
  }

  trainableVariables(): tf.Variable[] {
    return Object.values(this.variables()).filter((v) => v.trainable);
  }

  /** The resolved config; `createModel(getConfig())` rebuilds the same architecture. */
  getConfig(): C {
    return { ...this.config };
  }

  dispose(): void {
    this.stack.dispose();
  }

  /** The stack's input for a batch of images (identity; the patch model cuts patches). */
  protected toStack(x: tf.Tensor4D): tf.Tensor4D {
    return x;
  }

  /** Images from the stack's output (identity; the patch model reassembles patches). */
  protected fromStack(x: tf.Tensor4D): tf.Tensor4D {
    return x;
  }

  /** Stack rows per image (1; the number of patches for the patch model). */
  protected stackRowsPerImage(): number {
    return 1;
  }

  /** Per-image sums of a per-row quantity `[rows]`. */
  protected perImage(v: tf.Tensor1D): tf.Tensor1D {
    const rows = this.stackRowsPerImage();
    if (rows === 1) return v;
    return tf.sum(tf.reshape(v, [-1, rows]), 1) as tf.Tensor1D;
  }

  /** Throws a ShapeError naming `method` unless `x` is a float32 NHWC batch of this model's images. */
  protected checkImages(x: tf.Tensor, method: string): void {
    const [h, w, c] = this.inputShape;
    if (
      !(x instanceof tf.Tensor) ||
      x.rank !== 4 ||
      !tf.util.arraysEqual(x.shape.slice(1), [h!, w!, c!])
    ) {
      const got = x instanceof tf.Tensor ? `a tensor of shape [${x.shape}]` : String(x);
      throw new ShapeError(
        `${this.kind}.${method} expects NHWC images [batch, ${h}, ${w}, ${c}] (this model's config), got ${got}`,
      );
    }
    if (x.dtype !== 'float32') {
      throw new ShapeError(
        `${this.kind}.${method} expects float32 images in [-0.5, 0.5), got dtype ${x.dtype}`,
      );
    }
  }

  private checkLatents(latents: readonly tf.Tensor[]): void {
    const expected = this.latentShapes.map((s) => `[rows, ${s.join(', ')}]`).join(', ');
    const ok =
      Array.isArray(latents) &&
      latents.length === this.latentShapes.length &&
      latents.every(
        (u, k) =>
          u instanceof tf.Tensor &&
          u.rank === 4 &&
          tf.util.arraysEqual(u.shape.slice(1), [...this.latentShapes[k]!]) &&
          u.shape[0] === latents[0]!.shape[0] &&
          u.shape[0]! % this.stackRowsPerImage() === 0,
      );
    if (!ok) {
      const got = Array.isArray(latents)
        ? latents.map((u) => (u instanceof tf.Tensor ? `[${u.shape}]` : String(u))).join(', ')
        : String(latents);
      throw new ShapeError(
        `${this.kind}.decode expects one NHWC latent per scale, ${expected}, as encode returns` +
          `${this.stackRowsPerImage() > 1 ? ` (rows = images × ${this.stackRowsPerImage()} patches)` : ''}; got ${got}`,
      );
    }
  }
}
