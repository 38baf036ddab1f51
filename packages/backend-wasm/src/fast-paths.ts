/**
 * Switch between hierglow's optimised computation paths and the straightforward ones they
 * replace (issue 7). Both compute the same function; the fast paths reorder float32 arithmetic
 * (e.g. an ActNorm folded into the convolution before it), so results agree to rounding, not
 * bit for bit. The straightforward paths stay as the reference the tests compare against, and
 * let a benchmark A/B both in one process.
 *
 * On by default. Data-dependent initialisation always takes the straightforward path, because
 * it needs the intermediate activations the fused kernels never materialise.
 */
let enabled = true;

/** Whether the optimised paths are in use (default true). */
export function fastPathsEnabled(): boolean {
  return enabled;
}

/** Turns the optimised paths on or off for the whole process; returns the previous setting. */
export function setFastPaths(on: boolean): boolean {
  const previous = enabled;
  enabled = on;
  return previous;
}

/**
 * Runs `fn` with the optimised paths on or off, restoring the previous setting afterwards.
 *
 * @example
 * const reference = withFastPaths(false, () => model.logProb(x));
 */
export function withFastPaths<T>(on: boolean, fn: () => T): T {
  const previous = setFastPaths(on);
  try {
    return fn();
  } finally {
    setFastPaths(previous);
  }
}
