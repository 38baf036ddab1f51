import { ClassConditionalGlow } from './class-conditional-glow.js';
import { type ModelConfigInput, resolveModelConfig } from './config.js';
import { DenseGlow, Glow } from './glow.js';
import { PatchGlow } from './patch-glow.js';
import type { ScaleModel } from './scale-model.js';

/** Any of the models {@link createModel} builds (`ClassConditionalGlow` is a `Glow`). */
export type AnyModel = Glow | PatchGlow | DenseGlow;

/**
 * Builds a freshly initialised model from a config, dispatching on `kind` (`'glow'`,
 * `'patch-glow'`, `'dense-glow'`; a glow with `prior: 'class-conditional'` is a
 * {@link ClassConditionalGlow}). Missing fields get the paper's defaults; a bad field throws a
 * ConfigError naming `source` and the field. A checkpoint's `config.json` goes through here.
 *
 * @example
 * const model = createModel({ kind: 'glow', height: 32, width: 32, channels: 1 });
 */
export function createModel(config: ModelConfigInput, source = 'createModel'): AnyModel {
  const resolved = resolveModelConfig(config, source);
  switch (resolved.kind) {
    case 'glow':
      return resolved.prior === 'class-conditional'
        ? new ClassConditionalGlow(resolved, source)
        : new Glow(resolved, source);
    case 'patch-glow':
      return new PatchGlow(resolved, source);
    case 'dense-glow':
      return new DenseGlow(resolved, source);
  }
}

/** Whether `value` is a model built by this package (any kind). */
export function isScaleModel(value: unknown): value is ScaleModel {
  return value instanceof Glow || value instanceof PatchGlow || value instanceof DenseGlow;
}
