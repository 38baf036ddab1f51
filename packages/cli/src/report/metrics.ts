import {
  auroc,
  aurocBootstrapCI,
  averagePrecision,
  fprAtTpr,
  spearman,
} from '@hierglow/anomaly-metrics';
import { VERSION } from '../version.js';

/**
 * Detection metrics of one score on one in-distribution / OOD pair, as fractions in [0, 1].
 * In-distribution is the positive class and higher scores mean in-distribution, except for
 * `aupr_out`, which ranks by ascending score with OOD as the positive class.
 */
export interface DetectionMetrics {
  /** Area under the ROC curve (scikit-learn's roc_auc_score, ties count one half). */
  auroc: number;
  /**
   * 95 % percentile-bootstrap interval of the AUROC ([lower, upper]): in and OOD scores resampled
   * separately, {@link BOOTSTRAP_RESAMPLES} times, seed 0 (the same interval every run).
   */
  auroc_ci95: [number, number];
  /** Average precision with in-distribution positive. */
  aupr_in: number;
  /** Average precision with OOD positive. */
  aupr_out: number;
  /** False-positive rate (OOD accepted as in) at 95 % true-positive rate. */
  fpr95: number;
}

/** Resamples of the AUROC intervals in `metrics.json`. */
export const BOOTSTRAP_RESAMPLES = 1000;

/** The four metrics of a score on one pair of sets, with the AUROC's bootstrap interval. */
export function detectionMetrics(
  inScores: Float64Array,
  outScores: Float64Array,
): DetectionMetrics {
  const ci = aurocBootstrapCI(inScores, outScores, {
    resamples: BOOTSTRAP_RESAMPLES,
    level: 0.95,
    seed: 0,
  });
  return {
    auroc: auroc(inScores, outScores),
    auroc_ci95: [ci.lower, ci.upper],
    aupr_in: averagePrecision(inScores, outScores, { positive: 'in' }),
    aupr_out: averagePrecision(inScores, outScores, { positive: 'out' }),
    fpr95: fprAtTpr(inScores, outScores, 0.95),
  };
}

/** A scored dataset as `metrics.json` describes it. */
export interface DatasetSummary {
  name: string;
  source: string;
  split: string;
  count: number;
  /** Mean bits/dim of the model (finite values only). */
  meanBpd: number;
  /** Mean per-scale contribution −lp_k/(D ln 2) (bits per image dimension), finest first. */
  meanScaleBpd: number[];
  /** Mean bits/dim of the general model, with one. */
  generalMeanBpd?: number;
  /** Examples whose model log p was not finite (scored as most anomalous). */
  nonFinite: number;
}

/**
 * Contents of `metrics.json`. `metrics[score][oodName]` holds {@link DetectionMetrics}; every
 * score is oriented higher = more in-distribution (see `scores` for what each one is).
 */
export interface MetricsFile {
  format: 'hierglow-metrics';
  version: 1;
  hierglow: string;
  createdAt: string;
  model: string;
  general: string | null;
  /** Ren et al.'s background model, when one was given. */
  background?: string;
  /** How inputs were formed: 'bin-centre' (x = v/256 − 0.5 + 1/512, spec 2.1), 'uniform' or 'none'. */
  noise: string;
  convention: string;
  inDistribution: DatasetSummary;
  ood: DatasetSummary[];
  /** Score name → description. */
  scores: Record<string, string>;
  metrics: Record<string, Record<string, DetectionMetrics>>;
  /** Spearman ρ of the model's and the general model's log p per dataset (paper Fig. 2B), or null. */
  rankCorrelation: Record<string, number | null> | null;
  /**
   * A class-conditional model (spec 6.4) on a labelled in-distribution set: the fraction of its
   * images whose argmax_c log p(x|c) is their label.
   */
  classification?: { accuracy: number; count: number };
}

/** The header fields of a metrics file. */
export function metricsHeader(model: string, general: string | null, noise: string) {
  return {
    format: 'hierglow-metrics' as const,
    version: 1 as const,
    hierglow: VERSION,
    createdAt: new Date().toISOString(),
    model,
    general,
    noise,
    convention:
      'scores: higher = more in-distribution; auroc, aupr_in, fpr95 with in-distribution as the positive class; aupr_out with OOD positive; fractions in [0, 1]',
  };
}

/** Spearman ρ on the pairs where both values are finite; null when undefined (constant, < 2 pairs). */
export function finiteSpearman(a: Float64Array, b: Float64Array): number | null {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let i = 0; i < a.length; i++) {
    if (Number.isFinite(a[i]!) && Number.isFinite(b[i]!)) {
      xs.push(a[i]!);
      ys.push(b[i]!);
    }
  }
  try {
    return xs.length >= 2 ? spearman(xs, ys) : null;
  } catch {
    return null; // constant input: the correlation is undefined
  }
}

/** Mean of the finite values, NaN when there are none. */
export function finiteMean(values: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) {
      sum += v;
      n++;
    }
  }
  return n ? sum / n : Number.NaN;
}
