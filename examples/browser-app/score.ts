import type { AnyModel } from '@hierglow/glow';
import * as tf from '@tensorflow/tfjs-core';

/**
 * What the page shows for each image, computed the same way in the page and under Node (the
 * browser test compares the two): bits/dim under the Fashion-MNIST Glow, each scale's share of
 * it, the general Glow's bits/dim, and the likelihood ratio (general minus in-distribution
 * bits/dim: higher means more in-distribution, Schirrmeister et al. 2020).
 */
export interface ImageScore {
  bitsPerDim: number;
  /** −log p of each scale's term in bits per input dimension; they sum to `bitsPerDim` − 8. */
  perScaleBitsPerDim: number[];
  generalBitsPerDim: number;
  /** `generalBitsPerDim − bitsPerDim`. */
  likelihoodRatio: number;
}

async function modelBits(model: AnyModel, x: tf.Tensor4D) {
  const dims = x.shape[1] * x.shape[2] * x.shape[3];
  const { logP, perScale, bitsPerDim } = model.logProb(x);
  const bpd = Array.from(await bitsPerDim.data());
  const scales = await Promise.all(perScale.map((t) => t.data()));
  tf.dispose([logP, bitsPerDim, ...perScale]);
  const perImage = bpd.map((_, i) => scales.map((s) => -s[i]! / (dims * Math.LN2)));
  return { bpd, perImage };
}

/**
 * Scores a batch of model inputs (NHWC float32, already preprocessed: `bytesModelInput` or
 * `imageFileModelInput` of @hierglow/datasets) with both models.
 */
export async function scoreInputs(
  inDistribution: AnyModel,
  general: AnyModel,
  values: Float32Array,
  shape: [number, number, number, number],
): Promise<ImageScore[]> {
  const x = tf.tensor4d(values, shape);
  try {
    const own = await modelBits(inDistribution, x);
    const background = await modelBits(general, x);
    return own.bpd.map((bitsPerDim, i) => ({
      bitsPerDim,
      perScaleBitsPerDim: own.perImage[i]!,
      generalBitsPerDim: background.bpd[i]!,
      likelihoodRatio: background.bpd[i]! - bitsPerDim,
    }));
  } finally {
    x.dispose();
  }
}
