import { LengthMismatchError, ShapeError } from '../errors.js';
import {
  applyNonFinitePolicy,
  checkPolicy,
  finishScores,
  type NonFinitePolicy,
  type ScoreOptions,
} from './non-finite.js';
import {
  checkSameLength,
  isLikelihoodOutput,
  type LikelihoodOutput,
  type PerExampleValues,
  readPerExample,
} from './per-example-values.js';

const LOG_P_POLICIES: readonly NonFinitePolicy[] = [
  'error',
  'most-anomalous',
  'reference-sentinel',
];

function policyOf(options: ScoreOptions | undefined, allowed = LOG_P_POLICIES): NonFinitePolicy {
  const policy = options?.nonFinite ?? 'error';
  checkPolicy(policy, allowed);
  return policy;
}

/** Scores from one array of log-densities: read, apply the policy, copy out. */
function scoreFromLogP(
  source: PerExampleValues,
  name: string,
  policy: NonFinitePolicy,
): Float64Array {
  const values = readPerExample(source, name);
  const anomalous = applyNonFinitePolicy(values, name, policy);
  return finishScores(values, anomalous, policy, name);
}

/** Difference score a - b of two log-density arrays, each under the policy. */
function differenceScore(
  a: PerExampleValues,
  aName: string,
  b: PerExampleValues,
  bName: string,
  policy: NonFinitePolicy,
): Float64Array {
  const x = readPerExample(a, aName);
  const y = readPerExample(b, bName);
  checkSameLength([
    [aName, x],
    [bName, y],
  ]);
  const anomalous = applyNonFinitePolicy(x, aName, policy);
  applyNonFinitePolicy(y, bName, policy, anomalous);
  const scores = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) scores[i] = (x[i] as number) - (y[i] as number);
  return finishScores(scores, anomalous, policy, `${aName} - ${bName}`);
}

function scalesOf(
  source: LikelihoodOutput | readonly PerExampleValues[],
  name: string,
): readonly PerExampleValues[] {
  const scales = isLikelihoodOutput(source) ? source.perScale : source;
  if (!Array.isArray(scales) || scales.length === 0) {
    throw new ShapeError(
      `${name} must have at least one per-scale entry (perScale was empty or missing).`,
    );
  }
  return scales;
}

/**
 * Raw log-likelihood score: log p(x) in nats, higher = more in-distribution (spec 5, "raw
 * likelihood"). Accepts a model output or its `logP` values directly.
 *
 * @example
 * const scores = logLikelihoodScore(model.logProb(x)); // Float64Array, one per image
 * logLikelihoodScore([-2.1e4, Number.NaN], { nonFinite: 'most-anomalous' }); // [-21000, -Infinity]
 */
export function logLikelihoodScore(
  source: LikelihoodOutput | PerExampleValues,
  options?: ScoreOptions,
): Float64Array {
  const logP = isLikelihoodOutput(source) ? source.logP : source;
  return scoreFromLogP(logP, 'logP', policyOf(options));
}

/**
 * Negative bits per dimension, -bpd: higher = more in-distribution. Ranks exactly like
 * {@link logLikelihoodScore} for a fixed D. Accepts a model output or its `bitsPerDim` values.
 * `'reference-sentinel'` is not offered: the reference substitutes log p, not bpd.
 *
 * @example
 * negativeBitsPerDimScore({ logP, perScale, bitsPerDim: [3.4, 5.0] }); // [-3.4, -5]
 */
export function negativeBitsPerDimScore(
  source: LikelihoodOutput | PerExampleValues,
  options?: { nonFinite?: 'error' | 'most-anomalous' },
): Float64Array {
  const policy = policyOf(options, ['error', 'most-anomalous']);
  const bpd = readPerExample(isLikelihoodOutput(source) ? source.bitsPerDim : source, 'bitsPerDim');
  const anomalous = applyNonFinitePolicy(bpd, 'bitsPerDim', policy);
  for (let i = 0; i < bpd.length; i++) bpd[i] = -(bpd[i] as number);
  return finishScores(bpd, anomalous, policy, 'bitsPerDim');
}

/**
 * Per-scale log-likelihood contributions lp_k = F_k + A_k + Z_k (nats), finest scale first:
 * result[k] is the score of scale k, higher = more in-distribution. Accepts a model output or the
 * list of per-scale values.
 *
 * @example
 * const [lp0, lp1, lp2] = perScaleScores(model.logProb(x));
 */
export function perScaleScores(
  source: LikelihoodOutput | readonly PerExampleValues[],
  options?: ScoreOptions,
): Float64Array[] {
  const policy = policyOf(options);
  const scores = scalesOf(source, 'perScale').map((s, k) =>
    scoreFromLogP(s, `perScale[${k}]`, policy),
  );
  checkSameLength(scores.map((s, k) => [`perScale[${k}]`, s]));
  return scores;
}

/**
 * Final-scale ("4x4") score of the paper's hierarchy of features: the last lp_k, which is the
 * exact log-density of the coarsest sub-flow's input (spec 3.7). Higher = more in-distribution;
 * needs no general model.
 *
 * @example
 * const scores = finalScaleScore(model.logProb(x)); // = perScaleScores(...)[L - 1]
 */
export function finalScaleScore(
  source: LikelihoodOutput | readonly PerExampleValues[],
  options?: ScoreOptions,
): Float64Array {
  const scales = scalesOf(source, 'perScale');
  return scoreFromLogP(
    scales[scales.length - 1]!,
    `perScale[${scales.length - 1}]`,
    policyOf(options),
  );
}

/**
 * Log-likelihood ratio score of the hierarchy of distributions: log p_in(x) - log p_gen(x) in
 * nats, higher = more in-distribution ("Diff to Tiny", spec 5). Equals bpd_gen - bpd_in times
 * D ln 2. Examples are paired by index.
 *
 * @example
 * const scores = likelihoodRatioScore(inModel.logProb(x), tinyModel.logProb(x), { nonFinite: 'most-anomalous' });
 */
export function likelihoodRatioScore(
  inModel: LikelihoodOutput | PerExampleValues,
  generalModel: LikelihoodOutput | PerExampleValues,
  options?: ScoreOptions,
): Float64Array {
  const a = isLikelihoodOutput(inModel) ? inModel.logP : inModel;
  const b = isLikelihoodOutput(generalModel) ? generalModel.logP : generalModel;
  return differenceScore(a, 'inModel.logP', b, 'generalModel.logP', policyOf(options));
}

/**
 * Per-scale likelihood ratios lp_k,in - lp_k,gen (nats), finest first, higher = more
 * in-distribution. Spec 5 notes the reference code does not evaluate these; the last entry is
 * the final-scale ratio.
 *
 * @example
 * const ratios = perScaleLikelihoodRatioScores(inModel.logProb(x), tinyModel.logProb(x));
 * const finalScaleRatio = ratios[ratios.length - 1];
 */
export function perScaleLikelihoodRatioScores(
  inModel: LikelihoodOutput | readonly PerExampleValues[],
  generalModel: LikelihoodOutput | readonly PerExampleValues[],
  options?: ScoreOptions,
): Float64Array[] {
  const policy = policyOf(options);
  const a = scalesOf(inModel, 'inModel.perScale');
  const b = scalesOf(generalModel, 'generalModel.perScale');
  if (a.length !== b.length) {
    throw new LengthMismatchError(
      `inModel has ${a.length} scales but generalModel has ${b.length}; per-scale ratios need the same architecture.`,
    );
  }
  return a.map((s, k) =>
    differenceScore(s, `inModel.perScale[${k}]`, b[k]!, `generalModel.perScale[${k}]`, policy),
  );
}
