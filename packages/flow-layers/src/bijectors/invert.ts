import type * as tf from '@tensorflow/tfjs-core';
import {
  Bijector,
  type BijectorConfig,
  bijectorFromConfig,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
  registerBijector,
} from '../bijector.js';
import { ConfigError } from '../errors.js';

/**
 * The inverse of a bijector as a bijector: `forward` runs the wrapped bijector's inverse and
 * `inverse` its forward (log-dets follow). E.g. unsqueeze = `new Invert(new Squeeze())`.
 *
 * Owns the wrapped bijector: its variables are this one's (same names) and `dispose` disposes it.
 */
export class Invert extends Bijector {
  readonly type = 'Invert';

  constructor(readonly bijector: Bijector) {
    super();
    if (!(bijector instanceof Bijector)) {
      throw new ConfigError('Invert expects a Bijector to invert');
    }
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    const { x: y, logDet } = this.bijector.inverseAndLogDet(x);
    return { y, logDet };
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    const { y: x, logDet } = this.bijector.forwardAndLogDet(y);
    return { x, logDet };
  }

  override forwardShape(inputShape: readonly number[]): number[] {
    return this.bijector.inverseShape(inputShape);
  }

  override inverseShape(outputShape: readonly number[]): number[] {
    return this.bijector.forwardShape(outputShape);
  }

  override variables(): NamedVariables {
    return this.bijector.variables();
  }

  getConfig(): BijectorConfig {
    return { type: this.type, bijector: this.bijector.getConfig() };
  }

  override dispose(): void {
    this.bijector.dispose();
  }
}

registerBijector('Invert', (config) => {
  const inner = config.bijector as BijectorConfig | undefined;
  if (!inner || typeof inner.type !== 'string') {
    throw new ConfigError(`Invert config needs a 'bijector' config, got ${JSON.stringify(config)}`);
  }
  return new Invert(bijectorFromConfig(inner));
});
