import * as tf from '@tensorflow/tfjs-core';
import type { FusedOps } from './fused-ops.js';
import { PLAIN_OPS } from './plain-ops.js';

let installed: FusedOps | null = null;

/**
 * Installs a runtime's op set (replacing any installed before), or removes it with `null`;
 * returns the previous one. Runtime packages call this, not applications.
 */
export function installFusedOps(ops: FusedOps | null): FusedOps | null {
  const previous = installed;
  installed = ops;
  return previous;
}

/** The op set in force now: the installed one while it applies, else {@link PLAIN_OPS}. */
export function fusedOps(): FusedOps {
  const candidate = installed;
  return candidate?.activeOn(tf.getBackend()) ? candidate : PLAIN_OPS;
}
