import {
  Bijector,
  type BijectorConfig,
  ConfigError,
  type ForwardResult,
  type InverseResult,
  type NamedVariables,
  registerBijector,
  ShapeError,
} from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig, ModelConfigInput } from './config.js';
import { createModel } from './create-model.js';
import { sizeOf } from './layout.js';
import type { ScaleModel } from './scale-model.js';

/**
 * A model's flow part (images → all latents) as a flow-layers {@link Bijector}, so the
 * flow-layers testing kit (inverse, numerical-Jacobian log-det, gradients, leaks, config round
 * trip) can check the whole graph. Forward maps NHWC images `[B, H, W, C]` to `[B, D]`: each
 * scale's latents u_k (as `encode` returns them) flattened per image, scales concatenated in
 * order; the log-det is Σ_k (F_k + A_k). log p(x) = log-det + log N(y; 0, I).
 *
 * The bijector shares the model's variables; disposing it disposes the model.
 */
export class ModelBijector extends Bijector {
  readonly type = 'HierglowModel';

  constructor(readonly model: ScaleModel) {
    super();
  }

  forwardAndLogDet(x: tf.Tensor): ForwardResult {
    return tf.tidy(() => {
      const { latents, logDet } = this.model.encodeWithLogDet(x);
      const batch = x.shape[0]!;
      const y = tf.concat(
        latents.map((u) => tf.reshape(u, [batch, -1])),
        1,
      );
      return { y, logDet };
    });
  }

  override inverseAndLogDet(y: tf.Tensor): InverseResult {
    const perImage = this.latentSizesPerImage();
    const total = perImage.reduce((a, b) => a + b, 0);
    if (y.rank !== 2 || y.shape[1] !== total) {
      throw new ShapeError(`${this.type} inverse expects [batch, ${total}], got [${y.shape}]`);
    }
    return tf.tidy(() => {
      const rows = y.shape[0]! * this.rowsPerImage();
      const parts = tf.split(y, perImage, 1);
      const latents = parts.map((part, k) =>
        tf.reshape(part, [rows, ...this.model.latentShapes[k]!]),
      );
      const { x, logDet } = this.model.decodeWithLogDet(latents);
      return { x, logDet };
    });
  }

  override forwardShape(inputShape: readonly number[]): number[] {
    const expected = this.model.inputShape;
    if (inputShape.length !== 4 || !tf.util.arraysEqual(inputShape.slice(1), [...expected])) {
      throw new ShapeError(
        `${this.type} expects NHWC images [batch, ${expected}], got [${inputShape}]`,
      );
    }
    return [inputShape[0]!, this.model.numDims];
  }

  override inverseShape(outputShape: readonly number[]): number[] {
    if (outputShape.length !== 2 || outputShape[1] !== this.model.numDims) {
      throw new ShapeError(
        `${this.type} inverse expects [batch, ${this.model.numDims}], got [${outputShape}]`,
      );
    }
    return [outputShape[0]!, ...this.model.inputShape];
  }

  override variables(): NamedVariables {
    return this.model.variables();
  }

  getConfig(): BijectorConfig {
    return { type: this.type, model: this.model.getConfig() };
  }

  override dispose(): void {
    this.model.dispose();
  }

  private rowsPerImage(): number {
    const sizes = this.model.latentShapes.map((s) => sizeOf(s));
    return this.model.numDims / sizes.reduce((a, b) => a + b, 0);
  }

  private latentSizesPerImage(): number[] {
    const rows = this.rowsPerImage();
    return this.model.latentShapes.map((s) => sizeOf(s) * rows);
  }
}

/** The flow part of `model` as a {@link Bijector}; see {@link ModelBijector}. */
export function modelAsBijector(model: ScaleModel): ModelBijector {
  return new ModelBijector(model);
}

registerBijector('HierglowModel', (config) => {
  const model = config.model as ModelConfig | undefined;
  if (!model || typeof model !== 'object') {
    throw new ConfigError(
      `HierglowModel bijector config needs 'model': a model config, got ${JSON.stringify(config)}`,
    );
  }
  return new ModelBijector(createModel(model as ModelConfigInput, 'HierglowModel bijector config'));
});
