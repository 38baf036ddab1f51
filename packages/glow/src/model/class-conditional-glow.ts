import { ConfigError, type NamedVariables, prefixVariables } from '@hierglow/flow-layers';
import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import { ClassConditionalHead } from './class-head.js';
import type { GlowConfigInput } from './config.js';
import { flattenNchw, unflattenNchw } from './flatten-nchw.js';
import { Glow } from './glow.js';
import { sizeOf } from './layout.js';
import type { LogProbResult, SampleOptions, ScaleLogProbTerms } from './scale-model.js';
import type { ScaleTerms } from './scale-stack.js';

/**
 * {@link ClassConditionalGlow.logProb}: the mixture density, its per-scale decomposition, and
 * the class-conditional densities. Every value is per image, nats.
 */
export interface ClassConditionalLogProbResult extends LogProbResult {
  /**
   * log p(x) = logsumexp_c log p(x|c) − log C: the uniform class mixture (spec 6.4), the
   * model's density and anomaly score.
   */
  logP: tf.Tensor1D;
  /**
   * The chain-rule decomposition of the mixture (see the class doc): `perScale[k] =
   * log p(h_k) − log p(h_{k+1})` and `perScale[L−1] = log p(h_{L−1})`, where h_k is the input of
   * scale k (h_0 = x). They sum to `logP`, and `perScale[L−1]` is exactly the mixture's
   * log-density of the last scale's input, as for the unsupervised Glow.
   */
  perScale: tf.Tensor1D[];
  /** log p(x|c) for every class, `[batch, numClasses]`. */
  logPPerClass: tf.Tensor2D;
  /**
   * `F_k + log p(z_k)` with p(z_k) = (1/C) Σ_c p(z_k|c) the marginal of scale k's latents
   * alone: each scale as its own class mixture. These do NOT sum to `logP` (the classes couple
   * the scales); the last entry equals `perScale[L−1]`.
   */
  perScaleMarginal: tf.Tensor1D[];
}

/** The per-scale terms of a class-conditional Glow, per image (and class), nats. */
export interface ClassConditionalTerms {
  /** F_k: log-det of scale k's flow. `[batch]` each. */
  flowLogDets: tf.Tensor1D[];
  /** A_k: log-det of scale k's prior ActNorm (spec 3.5). `[batch]` each. */
  priorLogDets: tf.Tensor1D[];
  /** H_kc: the class head's log-density of u_k under class c, `[batch, numClasses]` each. */
  classLogProbs: tf.Tensor2D[];
}

/** Options of {@link ClassConditionalGlow.sample}. */
export interface ClassSampleOptions extends SampleOptions {
  /**
   * The class of every sample: one index for all, or one per sample. Default: drawn uniformly
   * (from `seed` when given), as the mixture does.
   */
  classes?: number | readonly number[];
}

/**
 * The supervised Glow of spec 6.4: a multi-scale Glow with the per-dimension prior ActNorms of
 * spec 3.5 (A_k) and, on top of each scale's standardised latents u_k, one ActNorm and one
 * diagonal Gaussian per class ({@link ClassConditionalHead}, all initialised to the identity and
 * N(0, I)). With F_k the flow log-det of scale k and H_kc the head's log-density of u_k under c,
 *
 *   log p(x|c) = Σ_k (F_k + A_k + H_kc),    log p(x) = logsumexp_c log p(x|c) − log C.
 *
 * Per-scale scores. Given the class, the scales are independent, but the mixture couples them, so
 * per-scale terms of the mixture are not unique. With tails T_kc = Σ_{j≥k} H_jc, the mixture's
 * exact density of h_k (the input of scale k, h_0 = x) is
 * `log p(h_k) = Σ_{j≥k} (F_j + A_j) + logsumexp_c T_kc − log C`, so
 *
 * - `perScale[k] = log p(h_k) − log p(h_{k+1}) = F_k + log p(z_k | h_{k+1})`: scale k's latents
 *   under the class mixture weighted by the posterior p(c | coarser scales). They sum to log p(x)
 *   exactly, and the last one is log p(h_{L−1}), the density the last scale gives its input:
 *   spec 3.7's properties hold unchanged, and with one class this is spec 3.7.
 * - `perScaleMarginal[k] = F_k + A_k + logsumexp_c H_kc − log C = F_k + log p(z_k)`: each scale
 *   as a separate class mixture, what spec 6.4 says the reference code computes. It is the exact
 *   marginal of z_k, but the terms do not add up to log p(x). Its last entry is the same number
 *   as `perScale[L−1]`, so the final-scale score does not depend on the choice.
 *
 * `logProbTerms` follows `perScale`: its `baseLogProbs[k]` is `perScale[k] − F_k − A_k`.
 * `encode`/`decode` map images to the u_k and back (the flow and the prior ActNorms), as for the
 * unsupervised Glow; the class heads sit on top of them.
 *
 * Variables: the Glow's (README) plus `levels.{k}.classHead.actnorm.{loc,logs}` and
 * `levels.{k}.classHead.gaussian.{mean,logs}`, each `[numClasses, D_k]` in NCHW order.
 *
 * @example
 * const model = new ClassConditionalGlow({ height: 32, width: 32, channels: 1, numClasses: 10 });
 * const { logP, logPPerClass } = model.logProb(x); // [batch], [batch, 10]
 * const predicted = model.classify(x);             // int32 [batch]
 */
export class ClassConditionalGlow extends Glow {
  /** C: the number of classes. */
  readonly numClasses: number;
  private readonly heads: ClassConditionalHead[];

  /** @param source names where the config came from in error messages */
  constructor(config: GlowConfigInput, source = 'Glow config') {
    super({ ...config, prior: config.prior ?? 'class-conditional' }, source);
    if (this.config.prior !== 'class-conditional') {
      throw new ConfigError(
        `${source}: ClassConditionalGlow needs prior 'class-conditional', got '${this.config.prior}'`,
      );
    }
    this.numClasses = this.config.numClasses!;
    this.heads = this.latentShapes.map(
      (shape) => new ClassConditionalHead(this.numClasses, sizeOf(shape)),
    );
  }

  /** F_k, A_k and the class head's H_kc for every scale (spec 6.4); see the class doc. */
  classTerms(x: tf.Tensor): ClassConditionalTerms {
    this.checkImages(x, 'classTerms');
    return tf.tidy(() => ({ ...this.classTermsOf(this.stack.forward(x as tf.Tensor4D)) }));
  }

  /** {@link classTerms} from the stack's terms: the class heads on the latents. */
  private classTermsOf(terms: ScaleTerms): ClassConditionalTerms {
    return {
      flowLogDets: terms.flowLogDets,
      priorLogDets: terms.priorLogDets,
      classLogProbs: terms.latents.map((u, k) => this.heads[k]!.logProbPerClass(flattenNchw(u))),
    };
  }

  /**
   * log p(x|c) for every image and class, `[batch, numClasses]`, nats.
   *
   * @param x NHWC images with values in [−0.5, 0.5)
   */
  logProbPerClass(x: tf.Tensor): tf.Tensor2D {
    this.checkImages(x, 'logProbPerClass');
    return tf.tidy(() => {
      const { flowLogDets, priorLogDets, classLogProbs } = this.classTerms(x);
      const shared = tf.add(tf.addN(flowLogDets), tf.addN(priorLogDets));
      return tf.add(tf.addN(classLogProbs), tf.expandDims(shared, 1)) as tf.Tensor2D;
    });
  }

  /**
   * The mixture log p(x), its per-scale decompositions, bits/dim and log p(x|c); see
   * {@link ClassConditionalLogProbResult} and the class doc.
   */
  override logProb(x: tf.Tensor): ClassConditionalLogProbResult {
    this.checkImages(x, 'logProb');
    return tf.tidy(() => ({ ...this.logProbFromTerms(this.stack.forward(x as tf.Tensor4D)) }));
  }

  /** The mixture head of {@link logProb} on the stack's terms (also the reversible pass's head). */
  protected override logProbFromTerms(terms: ScaleTerms): ClassConditionalLogProbResult {
    return tf.tidy(() => {
      const { flowLogDets, priorLogDets, classLogProbs } = this.classTermsOf(terms);
      const logC = Math.log(this.numClasses);
      const { tails, baseLogProbs, headsLogP } = mixtureIncrements(classLogProbs, this.numClasses);
      const logDets = flowLogDets.map((f, k) => tf.add(f, priorLogDets[k]!) as tf.Tensor1D);
      const perScale = logDets.map((d, k) => tf.add(d, baseLogProbs[k]!) as tf.Tensor1D);
      const perScaleMarginal = logDets.map(
        (d, k) => tf.add(d, tf.sub(tf.logSumExp(classLogProbs[k]!, 1), logC)) as tf.Tensor1D,
      );
      const shared = tf.addN(logDets);
      const logP = tf.add(shared, headsLogP) as tf.Tensor1D;
      const logPPerClass = tf.add(tails[0]!, tf.expandDims(shared, 1)) as tf.Tensor2D;
      const bitsPerDim = tf.div(
        tf.sub(this.numDims * Math.log(256), logP),
        this.numDims * Math.LN2,
      ) as tf.Tensor1D;
      return { logP, perScale, bitsPerDim, logPPerClass, perScaleMarginal };
    });
  }

  /**
   * F_k, A_k and, as `baseLogProbs[k]`, the mixture's log-density increment of u_k given the
   * coarser scales (`perScale[k] − F_k − A_k`; see the class doc).
   */
  override logProbTerms(x: tf.Tensor): ScaleLogProbTerms {
    this.checkImages(x, 'logProbTerms');
    return tf.tidy(() => {
      const { flowLogDets, priorLogDets, classLogProbs } = this.classTerms(x);
      const { baseLogProbs } = mixtureIncrements(classLogProbs, this.numClasses);
      return { flowLogDets, priorLogDets, baseLogProbs };
    });
  }

  /**
   * The most likely class of every image, argmax_c log p(x|c) (= argmax_c p(c|x) under the
   * uniform class prior), int32 `[batch]`.
   */
  classify(x: tf.Tensor): tf.Tensor1D {
    this.checkImages(x, 'classify');
    return tf.tidy(() => tf.argMax(this.logProbPerClass(x), 1) as tf.Tensor1D);
  }

  /**
   * Draws `n` images (NHWC): a class per image (uniform, or `options.classes`), then for every
   * scale v ~ N(μ_c, (temperature·σ_c)²) through the inverse class ActNorm to u_k, then
   * {@link decode}. Scale k's draws use `seed + k`; the classes use `seed`.
   */
  override sample(n: number, options: ClassSampleOptions = {}): tf.Tensor4D {
    const { temperature = 1, seed, classes } = options;
    if (!Number.isInteger(n) || n < 1) {
      throw new ConfigError(`glow.sample: 'n' must be a positive integer, got ${n}`);
    }
    if (!(Number.isFinite(temperature) && temperature >= 0)) {
      throw new ConfigError(
        `glow.sample: 'temperature' must be a finite number >= 0, got ${temperature}`,
      );
    }
    if (seed !== undefined && !Number.isInteger(seed)) {
      throw new ConfigError(`glow.sample: 'seed' must be an integer, got ${seed}`);
    }
    const perSample = this.sampleClasses(n, classes, seed);
    return tf.tidy(() => {
      const latents = this.heads.map((head, k) =>
        unflattenNchw(
          head.sample(perSample, temperature, seed === undefined ? undefined : seed + k),
          [n, ...this.latentShapes[k]!],
        ),
      );
      return this.decode(latents);
    });
  }

  /** The Glow's variables plus every scale's `levels.{k}.classHead.…` (see the class doc). */
  override variables(): NamedVariables {
    const all = super.variables();
    this.heads.forEach((head, k) => {
      Object.assign(all, prefixVariables(`levels.${k}.classHead`, head.variables()));
    });
    return all;
  }

  override dispose(): void {
    super.dispose();
    for (const head of this.heads) head.dispose();
  }

  private sampleClasses(
    n: number,
    classes: ClassSampleOptions['classes'],
    seed: number | undefined,
  ): number[] {
    if (classes === undefined) {
      const rng = createRng(seed ?? Math.floor(Math.random() * 2 ** 31));
      return Array.from({ length: n }, () => rng.int(this.numClasses));
    }
    const list = typeof classes === 'number' ? new Array<number>(n).fill(classes) : [...classes];
    if (list.length !== n) {
      throw new ConfigError(
        `glow.sample: 'classes' has ${list.length} entries for ${n} samples; give one per sample or a single class`,
      );
    }
    return list;
  }
}

/**
 * The class mixture over the scales' head terms H_k `[B, C]` (finest first): the per-class tails
 * T_k = Σ_{j≥k} H_j, the mixture's log-density of u_0..u_{L−1} (`headsLogP`, = logsumexp_c T_0c
 * − log C), and its chain-rule increments `baseLogProbs[k] = m_k − m_{k+1}` (last: m_{L−1}) with
 * m_k = logsumexp_c T_kc − log C, the mixture's log-density of u_k..u_{L−1}.
 */
function mixtureIncrements(
  classLogProbs: readonly tf.Tensor2D[],
  numClasses: number,
): { tails: tf.Tensor2D[]; baseLogProbs: tf.Tensor1D[]; headsLogP: tf.Tensor1D } {
  const L = classLogProbs.length;
  const logC = Math.log(numClasses);
  const tails: tf.Tensor2D[] = new Array(L);
  for (let k = L - 1; k >= 0; k--) {
    tails[k] =
      k === L - 1 ? classLogProbs[k]! : (tf.add(classLogProbs[k]!, tails[k + 1]!) as tf.Tensor2D);
  }
  // Only the class-dependent head terms enter the logsumexp: the log-dets are the same for every
  // class, and keeping the large F_k out of it saves float32 precision.
  const mixtureTail = tails.map((t) => tf.sub(tf.logSumExp(t, 1), logC) as tf.Tensor1D);
  const baseLogProbs = mixtureTail.map((m, k) =>
    k === L - 1 ? m : (tf.sub(m, mixtureTail[k + 1]!) as tf.Tensor1D),
  );
  return { tails, baseLogProbs, headsLogP: mixtureTail[0]! };
}
