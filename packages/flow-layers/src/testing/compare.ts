/**
 * ‖actual − expected‖₂ / ‖expected‖₂: how far two computations of the same function drift
 * apart, e.g. a fused op set against the plain ops.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(diff / norm);
}
