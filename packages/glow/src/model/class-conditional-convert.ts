import { ConfigError } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { ClassConditionalGlow } from './class-conditional-glow.js';
import { Glow } from './glow.js';

/**
 * Spec 6.4's starting point in one call: a class-conditional copy of a trained unsupervised Glow
 * (e.g. the general "Tiny" model). Every flow weight and every per-scale prior ActNorm (A_k) is
 * copied; the class heads are fresh (identity ActNorms, N(0, I) Gaussians), so at first
 * log p(x|c) equals the source's log p(x) for every class c, and so does the mixture. The source
 * model is left as it was (dispose it when no longer needed).
 *
 * @param model a `Glow` with the paper's per-dimension prior (spec 3.5)
 * @example
 * const { model: general } = await restoreModel('runs/general/final', createModel);
 * const supervised = toClassConditional(general as Glow, 10);
 */
export function toClassConditional(model: Glow, numClasses: number): ClassConditionalGlow {
  if (model instanceof ClassConditionalGlow) {
    throw new ConfigError(
      `toClassConditional: the model is already class-conditional (${model.numClasses} classes)`,
    );
  }
  if (!(model instanceof Glow)) {
    throw new ConfigError(
      `toClassConditional: needs a multi-scale Glow (kind 'glow'), got ${describe(model)}`,
    );
  }
  const config = model.getConfig();
  if (config.prior !== 'per-dimension') {
    throw new ConfigError(
      `toClassConditional: the class heads sit on the per-dimension prior ActNorms of spec 3.5, ` +
        `but this Glow has prior '${config.prior}'`,
    );
  }
  const converted = new ClassConditionalGlow(
    { ...config, prior: 'class-conditional', numClasses },
    'toClassConditional',
  );
  const target = converted.variables();
  tf.tidy(() => {
    for (const [name, v] of Object.entries(model.variables())) {
      const t = target[name];
      if (!t || !tf.util.arraysEqual(t.shape, v.shape)) {
        converted.dispose();
        throw new Error(
          `toClassConditional: variable '${name}' has no counterpart of shape [${v.shape}] in the class-conditional model; this is a bug`,
        );
      }
      t.assign(v);
    }
  });
  return converted;
}

function describe(model: unknown): string {
  const kind = (model as { kind?: unknown })?.kind;
  return typeof kind === 'string' ? `a '${kind}' model` : String(model);
}
