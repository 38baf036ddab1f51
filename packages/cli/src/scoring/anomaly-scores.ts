import {
  finalScaleScore,
  inputComplexityScore,
  likelihoodRatioScore,
  logLikelihoodScore,
  perScaleLikelihoodRatioScores,
  perScaleScores,
} from '@hierglow/anomaly-metrics';
import type { DatasetOutputs } from './score-dataset.js';

/** A named anomaly score: one value per example, higher = more in-distribution. */
export interface NamedScore {
  name: string;
  /** One line for tables and the report. */
  description: string;
  values: Float64Array;
}

/**
 * The scores of spec 5 and 8 from a dataset's model outputs, higher = more in-distribution for
 * every one (so AUROC, AUPR-in/out and FPR@95 read the same way):
 *
 * - `raw`: log p(x) of the model;
 * - `final-scale`: lp_{L−1}, the coarsest scale's contribution (hierarchy of features);
 * - `scale-k`: lp_k of every scale k (finest = 0);
 * - `ratio`: log p_in(x) − log p_gen(x), with a general model (hierarchy of distributions);
 * - `ratio-scale-k`: lp_k,in − lp_k,gen per scale (not evaluated by the reference code);
 * - `background-ratio`: log p_in(x) − log p_bg(x), Ren et al. 2019's likelihood ratio against a
 *   background model trained on perturbed in-distribution images (the paper's baseline);
 * - `complexity`: −L(x), minus the PNG bits/dim (Serrà et al.: simple images look typical);
 * - `s-score`: L(x) − bpd(x), i.e. −S(x) of Serrà et al.
 *
 * Non-finite log-densities rank as the most anomalous (score −∞), spec 5's rule.
 */
export function anomalyScores(outputs: DatasetOutputs): NamedScore[] {
  const policy = { nonFinite: 'most-anomalous' } as const;
  const m = outputs.model;
  const like = { logP: m.logP, perScale: m.perScale, bitsPerDim: m.bitsPerDim };
  const scores: NamedScore[] = [
    { name: 'raw', description: 'log p(x), nats', values: logLikelihoodScore(like, policy) },
    {
      name: 'final-scale',
      description: `lp_${m.perScale.length - 1}, the final (coarsest) scale's log-density`,
      values: finalScaleScore(like, policy),
    },
  ];
  perScaleScores(like, policy).forEach((values, k) => {
    scores.push({ name: `scale-${k}`, description: `lp_${k} of scale ${k} (0 = finest)`, values });
  });
  const g = outputs.general;
  if (g) {
    const gen = { logP: g.logP, perScale: g.perScale, bitsPerDim: g.bitsPerDim };
    scores.push({
      name: 'ratio',
      description: 'log p_in(x) − log p_gen(x), nats',
      values: likelihoodRatioScore(like, gen, policy),
    });
    if (g.perScale.length === m.perScale.length) {
      perScaleLikelihoodRatioScores(like, gen, policy).forEach((values, k) => {
        scores.push({
          name: `ratio-scale-${k}`,
          description: `lp_${k},in − lp_${k},gen`,
          values,
        });
      });
    }
  }
  const bg = outputs.background;
  if (bg) {
    scores.push({
      name: 'background-ratio',
      description: 'log p_in(x) − log p_bg(x), nats (Ren et al. 2019 background model)',
      values: likelihoodRatioScore(
        like,
        { logP: bg.logP, perScale: bg.perScale, bitsPerDim: bg.bitsPerDim },
        policy,
      ),
    });
  }
  const complexity = outputs.complexity;
  scores.push({
    name: 'complexity',
    description: '−PNG bits/dim (Serrà input complexity; simple = typical)',
    values: complexity.map((c) => -c),
  });
  const bpd = m.bitsPerDim.map((b) => (Number.isFinite(b) ? b : Number.POSITIVE_INFINITY));
  scores.push({
    name: 's-score',
    description: 'PNG bits/dim − model bits/dim (−S of Serrà et al.)',
    values: inputComplexityScore(bpd, complexity).map((v) => (Number.isNaN(v) ? -Infinity : v)),
  });
  return scores;
}
