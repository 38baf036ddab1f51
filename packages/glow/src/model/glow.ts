import { ConfigError } from '@hierglow/flow-layers';
import {
  type DenseGlowConfig,
  type DenseGlowConfigInput,
  type GlowConfig,
  type GlowConfigInput,
  resolveConfigOfKind,
} from './config.js';
import { buildLevels, SeedSequence } from './levels.js';
import { ScaleModel } from './scale-model.js';
import { ScaleStack } from './scale-stack.js';

/**
 * The multi-scale Glow of spec 3: L scales, each a 2x2 squeeze (reference channel order) and K
 * steps of ActNorm → invertible 1x1 conv → affine coupling on all channels, then (but for the
 * last scale) a split whose first half z_k is factored out. Scale k's prior is a per-dimension
 * ActNorm (eps 1e-8) on z_k flattened in NCHW order plus N(0, I) (spec 3.5), or, with
 * `prior: 'conditional'`, the original Glow's learned split prior. `prior: 'class-conditional'`
 * (spec 6.4) is the subclass `ClassConditionalGlow`.
 *
 * Images are NHWC with values in [−0.5, 0.5) (spec 2.1). Defaults are the paper's: L = 3,
 * K = 32, hidden 512, affine coupling, LU 1x1 conv, per-dimension prior.
 *
 * @example
 * const glow = new Glow({ kind: 'glow', height: 32, width: 32, channels: 1, stepsPerLevel: 8, hidden: 64 });
 * glow.initialize(initBatch);                       // data-dependent init, spec 3.6
 * const { logP, perScale, bitsPerDim } = glow.logProb(x);
 */
export class Glow extends ScaleModel<GlowConfig> {
  /** @param source names where the config came from in error messages */
  constructor(config: GlowConfigInput, source = 'Glow config') {
    const resolved = resolveConfigOfKind('glow', config, source);
    if (resolved.prior === 'class-conditional' && new.target === Glow) {
      throw new ConfigError(
        `${source}: prior 'class-conditional' needs the class head of ClassConditionalGlow; ` +
          'build it with createModel(config) or new ClassConditionalGlow(config)',
      );
    }
    const levels = buildLevels(
      {
        inputShape: [resolved.height, resolved.width, resolved.channels],
        levels: resolved.levels,
        stepsPerLevel: resolved.stepsPerLevel,
        hidden: resolved.hidden,
        coupling: resolved.coupling,
        permutation: resolved.permutation,
        // The class-conditional head (spec 6.4) sits on top of the per-dimension prior ActNorms.
        prior: resolved.prior === 'class-conditional' ? 'per-dimension' : resolved.prior,
        dense: false,
      },
      new SeedSequence(resolved.seed),
    );
    super(resolved, new ScaleStack(levels));
  }
}

/**
 * The fully-connected Glow of spec 7.2: the same multi-scale graph and per-scale priors, with
 * each scale flattened (NCHW order) after its squeeze, K = 8 dense steps (per-dimension ActNorm,
 * a fixed random orthogonal matrix, affine coupling with a 3-layer MLP of width `hidden`), and
 * the vector reshaped back to the image before the split.
 *
 * @example
 * const dense = new DenseGlow({ kind: 'dense-glow', height: 32, width: 32, channels: 1, hidden: 256 });
 */
export class DenseGlow extends ScaleModel<DenseGlowConfig> {
  /** @param source names where the config came from in error messages */
  constructor(config: DenseGlowConfigInput, source = 'DenseGlow config') {
    const resolved = resolveConfigOfKind('dense-glow', config, source);
    const levels = buildLevels(
      {
        inputShape: [resolved.height, resolved.width, resolved.channels],
        levels: resolved.levels,
        stepsPerLevel: resolved.stepsPerLevel,
        hidden: resolved.hidden,
        coupling: resolved.coupling,
        permutation: resolved.permutation,
        prior: 'per-dimension',
        dense: true,
      },
      new SeedSequence(resolved.seed),
    );
    super(resolved, new ScaleStack(levels));
  }
}
