import * as tf from '@tensorflow/tfjs-core';
import { type PatchGlowConfig, type PatchGlowConfigInput, resolveConfigOfKind } from './config.js';
import { buildLevels, SeedSequence } from './levels.js';
import { ScaleModel } from './scale-model.js';
import { ScaleStack } from './scale-stack.js';

/**
 * The local-patch Glow of spec 7.1: the image is cut into non-overlapping `patchSize`² patches
 * (8x8 in the paper: 16 per 32x32 image) in row-major patch order, which become a batch of
 * B·P patches sharing one flow: squeeze → K steps (ActNorm, 1x1 conv, coupling) → per-dimension
 * ActNorm on the flattened (NCHW) patch → N(0, I). One scale, no split. The image's
 * log p(x) = Σ_patches log p(patch), so each patch is modelled independently; `perScale` has one
 * entry, equal to `logP`.
 *
 * Latents (encode/decode) are per patch: `[B·P, p/2, p/2, 4C]`, image b's patches in rows
 * `b·P … b·P + P − 1`.
 *
 * @example
 * const local = new PatchGlow({ kind: 'patch-glow', height: 32, width: 32, channels: 1, steps: 8, hidden: 64 });
 */
export class PatchGlow extends ScaleModel<PatchGlowConfig> {
  /** Patches per image, P = (H/p)·(W/p). */
  readonly patchesPerImage: number;

  /** @param source names where the config came from in error messages */
  constructor(config: PatchGlowConfigInput, source = 'PatchGlow config') {
    const resolved = resolveConfigOfKind('patch-glow', config, source);
    const levels = buildLevels(
      {
        inputShape: [resolved.patchSize, resolved.patchSize, resolved.channels],
        levels: 1,
        stepsPerLevel: resolved.steps,
        hidden: resolved.hidden,
        coupling: resolved.coupling,
        permutation: resolved.permutation,
        prior: 'per-dimension',
        dense: false,
      },
      new SeedSequence(resolved.seed),
    );
    super(resolved, new ScaleStack(levels));
    this.patchesPerImage =
      (resolved.height / resolved.patchSize) * (resolved.width / resolved.patchSize);
  }

  /** `[B, H, W, C]` → `[B·P, p, p, C]`, patches in row-major order within each image. */
  protected override toStack(x: tf.Tensor4D): tf.Tensor4D {
    const { height, width, channels, patchSize: p } = this.config;
    return tf.tidy(() => {
      const grid = tf.reshape(x, [x.shape[0], height / p, p, width / p, p, channels]);
      return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]), [
        -1,
        p,
        p,
        channels,
      ]) as tf.Tensor4D;
    });
  }

  /** Inverse of {@link toStack}: `[B·P, p, p, C]` → `[B, H, W, C]`. */
  protected override fromStack(patches: tf.Tensor4D): tf.Tensor4D {
    const { height, width, channels, patchSize: p } = this.config;
    return tf.tidy(() => {
      const grid = tf.reshape(patches, [-1, height / p, width / p, p, p, channels]);
      return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]), [
        -1,
        height,
        width,
        channels,
      ]) as tf.Tensor4D;
    });
  }

  protected override stackRowsPerImage(): number {
    return this.patchesPerImage;
  }
}
