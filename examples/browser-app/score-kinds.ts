import { auroc } from '@hierglow/anomaly-metrics/metrics';
import type { ImageScore } from './score.js';

/**
 * The three scores the page compares with the in-distribution reference, in the page's units
 * (bits/dim), with the direction that makes each one "higher = more in-distribution" for
 * AUROC (as `hierglow evaluate`'s raw, final-scale and ratio scores: the same ranks, since
 * bits/dim are log-densities times a negative constant).
 */
export interface ScoreKind {
  key: keyof ReferenceScores['scores'];
  label: string;
  of(score: ImageScore): number;
  /** +1 when a higher value is more in-distribution, −1 when it is more anomalous. */
  direction: 1 | -1;
}

export const SCORE_KINDS: readonly ScoreKind[] = [
  { key: 'bitsPerDim', label: 'bits/dim (raw)', of: (s) => s.bitsPerDim, direction: -1 },
  {
    key: 'finalScaleBitsPerDim',
    label: 'final scale (bits/dim)',
    of: (s) => s.perScaleBitsPerDim.at(-1)!,
    direction: -1,
  },
  {
    key: 'likelihoodRatio',
    label: 'likelihood ratio (bits/dim)',
    of: (s) => s.likelihoodRatio,
    direction: 1,
  },
];

/** reference-scores.json, written by prepare-assets.mjs from `hierglow score`'s output. */
export interface ReferenceScores {
  description: string;
  command: string;
  dataset: string;
  count: number;
  /** model.safetensors' SHA-256 of each model the scores were made with. */
  models: { fashion: string; general: string };
  scores: { bitsPerDim: number[]; finalScaleBitsPerDim: number[]; likelihoodRatio: number[] };
}

/**
 * AUROC of the in-distribution reference (positive) against a set of images (negative) for each
 * score kind: 1 when every image of the set looks more anomalous than every reference image.
 */
export function aurocTable(
  reference: ReferenceScores,
  images: ImageScore[],
): { kind: ScoreKind; auroc: number }[] {
  return SCORE_KINDS.map((kind) => ({
    kind,
    auroc: auroc(
      reference.scores[kind.key].map((v) => kind.direction * v),
      images.map((s) => kind.direction * kind.of(s)),
    ),
  }));
}

/**
 * Share of the reference at least as anomalous as `value` (an empirical one-sided p-value):
 * small means the image is rarer than almost every in-distribution image.
 */
export function referenceShare(reference: number[], value: number, direction: 1 | -1): number {
  let atLeast = 0;
  for (const r of reference) if (direction * r <= direction * value) atLeast++;
  return atLeast / reference.length;
}
