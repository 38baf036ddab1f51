import { InvalidOptionError, NonFiniteScoreError } from '../errors.js';

/**
 * What to do with a non-finite log-likelihood (NaN or +-Infinity, e.g. a diverged model):
 * - `'error'` (default): throw NonFiniteScoreError naming the example.
 * - `'most-anomalous'`: the example's score becomes -Infinity, ranked below every finite score
 *   (the metrics accept infinities). Spec 5's rule, "non-finite = maximally anomalous", stated
 *   without a magic number; applies whichever model produced the non-finite value.
 * - `'reference-sentinel'`: replace each non-finite log p by -3e6 before any difference, exactly as
 *   the reference's `evaluate_without_noise`. Note the asymmetry this reproduces: a non-finite
 *   *general*-model log p then makes the ratio score huge (very in-distribution).
 */
export type NonFinitePolicy = 'error' | 'most-anomalous' | 'reference-sentinel';

/** The value the reference evaluation substitutes for a non-finite log p (nats). */
export const REFERENCE_NON_FINITE_LOG_P = -3_000_000;

/** Options shared by the log-likelihood based scores. */
export interface ScoreOptions {
  /** Handling of NaN/Infinity in the model outputs. Default `'error'`. */
  nonFinite?: NonFinitePolicy;
}

export function checkPolicy(policy: string, allowed: readonly string[]): void {
  if (!allowed.includes(policy)) {
    throw new InvalidOptionError(
      `nonFinite must be one of ${allowed.map((p) => `'${p}'`).join(', ')}, got '${policy}'.`,
    );
  }
}

/**
 * Applies the policy to one model-output array in place and returns a mask of examples that must
 * end up at -Infinity (only ever set under `'most-anomalous'`).
 */
export function applyNonFinitePolicy(
  values: Float64Array,
  name: string,
  policy: NonFinitePolicy,
  mask?: Uint8Array,
): Uint8Array {
  const anomalous = mask ?? new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Number.isFinite(v)) continue;
    if (policy === 'error') {
      throw new NonFiniteScoreError(
        `${name}[${i}] is ${v}. Pass { nonFinite: 'most-anomalous' } to rank such examples as the most ` +
          "anomalous, or 'reference-sentinel' for the reference code's -3e6 substitution.",
      );
    }
    if (policy === 'most-anomalous') anomalous[i] = 1;
    else values[i] = REFERENCE_NON_FINITE_LOG_P;
  }
  return anomalous;
}

/**
 * Sets masked examples to -Infinity. A non-finite result from finite inputs (overflow, only
 * possible near 1e308) throws under `'error'` and is -Infinity otherwise.
 */
export function finishScores(
  scores: Float64Array,
  anomalous: Uint8Array,
  policy: NonFinitePolicy,
  name: string,
): Float64Array {
  for (let i = 0; i < scores.length; i++) {
    if (anomalous[i] === 1) scores[i] = Number.NEGATIVE_INFINITY;
    else if (!Number.isFinite(scores[i] as number)) {
      // Finite inputs whose difference overflows: treat like a non-finite model output.
      if (policy === 'error')
        throw new NonFiniteScoreError(`${name}[${i}] overflowed to ${scores[i]}.`);
      scores[i] = Number.NEGATIVE_INFINITY;
    }
  }
  return scores;
}
