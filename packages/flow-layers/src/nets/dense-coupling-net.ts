import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import type { NamedVariables } from '../bijector.js';
import { ownedVariable } from '../bijector.js';
import { type CouplingNet, type CouplingNetConfig, registerCouplingNet } from '../coupling-net.js';
import { ShapeError } from '../errors.js';
import { fusedOps } from '../ops/op-registry.js';
import { assertPositiveIntegers, assertSeed, uniformTensor } from './init.js';

/** Options of {@link DenseCouplingNet}. */
export interface DenseCouplingNetOptions {
  /** Features of the conditioning half (D/2 for a coupling on D features). */
  inFeatures: number;
  /** Output features: D for an affine coupling, D/2 for an additive one. */
  outFeatures: number;
  /** Width of the two hidden layers; 512 in the paper. */
  hidden?: number;
  /** Seed of the random initial weights and biases. */
  seed: number;
}

/**
 * The fully-connected coupling network of the dense Glow (spec 7.2), for `[batch, features]`
 * vectors: Linear → ReLU → Linear → ReLU → Linear, every layer with PyTorch's default Linear
 * initialisation (weights and biases U(±1/√fan_in)); no zero init, no ActNorm.
 *
 * Products go through the op set in force (`FusedOps.matMul`).
 *
 * Variables: `linear{1,2,3}.weight` (`[in, out]`, the transpose of PyTorch's `[out, in]`) and
 * `linear{1,2,3}.bias` (all trainable).
 *
 * @example
 * const net = new DenseCouplingNet({ inFeatures: 1536, outFeatures: 3072, seed: 1 });
 * const coupling = new AffineCoupling({ channels: 3072, net });
 */
export class DenseCouplingNet implements CouplingNet {
  readonly type = 'DenseCouplingNet';
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly hidden: number;
  readonly seed: number;
  private readonly layers: { weight: tf.Variable; bias: tf.Variable }[];

  constructor(options: DenseCouplingNetOptions) {
    const { inFeatures, outFeatures, hidden = 512, seed } = options;
    assertPositiveIntegers('DenseCouplingNet', { inFeatures, outFeatures, hidden });
    assertSeed('DenseCouplingNet', seed);
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.hidden = hidden;
    this.seed = seed;
    const rng = createRng(seed);
    const sizes: [number, number][] = [
      [inFeatures, hidden],
      [hidden, hidden],
      [hidden, outFeatures],
    ];
    this.layers = tf.tidy(() =>
      sizes.map(([fanIn, fanOut]) => {
        const bound = 1 / Math.sqrt(fanIn);
        return {
          weight: ownedVariable(uniformTensor([fanIn, fanOut], bound, rng), true),
          bias: ownedVariable(uniformTensor([fanOut], bound, rng), true),
        };
      }),
    );
  }

  /** The {@link CouplingNet} name for {@link inFeatures}. */
  get inChannels(): number {
    return this.inFeatures;
  }

  /** The {@link CouplingNet} name for {@link outFeatures}. */
  get outChannels(): number {
    return this.outFeatures;
  }

  /** @param x `[batch, inFeatures]` → `[batch, outFeatures]` */
  apply(x: tf.Tensor): tf.Tensor {
    if (x.rank !== 2 || x.shape[1] !== this.inFeatures) {
      throw new ShapeError(
        `DenseCouplingNet expects a vector input [batch, ${this.inFeatures}], got [${x.shape}]`,
      );
    }
    return tf.tidy(() => {
      let h = x as tf.Tensor2D;
      this.layers.forEach(({ weight, bias }, i) => {
        h = tf.add(fusedOps().matMul(h, weight as tf.Tensor2D), bias);
        if (i < this.layers.length - 1) h = tf.relu(h);
      });
      return h;
    });
  }

  variables(): NamedVariables {
    const vars: NamedVariables = {};
    this.layers.forEach(({ weight, bias }, i) => {
      vars[`linear${i + 1}.weight`] = weight;
      vars[`linear${i + 1}.bias`] = bias;
    });
    return vars;
  }

  getConfig(): CouplingNetConfig {
    return {
      type: this.type,
      inFeatures: this.inFeatures,
      outFeatures: this.outFeatures,
      hidden: this.hidden,
      seed: this.seed,
    };
  }

  dispose(): void {
    for (const v of Object.values(this.variables())) v.dispose();
  }
}

registerCouplingNet(
  'DenseCouplingNet',
  (config) => new DenseCouplingNet(config as unknown as DenseCouplingNetOptions),
);
