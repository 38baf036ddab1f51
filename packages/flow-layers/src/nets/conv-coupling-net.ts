import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';
import {
  activeDataInitPass,
  type NamedVariables,
  ownedVariable,
  prefixVariables,
} from '../bijector.js';
import { ActNorm } from '../bijectors/act-norm.js';
import { type CouplingNet, type CouplingNetConfig, registerCouplingNet } from '../coupling-net.js';
import { ShapeError } from '../errors.js';
import { fusedOps } from '../ops/op-registry.js';
import { assertPositiveIntegers, assertSeed, normalTensor } from './init.js';

/** Options of {@link ConvCouplingNet}. */
export interface ConvCouplingNetOptions {
  /** Channels of the conditioning half (C/2 for a coupling on C channels). */
  inChannels: number;
  /** Output channels: C for an affine coupling, C/2 for an additive one. */
  outChannels: number;
  /** Width of the two hidden layers; 512 in the paper. */
  hidden?: number;
  /** Seed of the random initial weights of the first two convolutions. */
  seed: number;
}

/** Std of the Gaussian initial weights of the first two convolutions (spec 3.4). */
const INIT_STD = 0.05;
/** The output scale is exp(LOGSCALE_FACTOR · logs) (spec 3.4, Glow's Conv2dZeros). */
const LOGSCALE_FACTOR = 3;

/**
 * Glow's convolutional coupling network (spec 3.4), for NHWC images:
 * conv3x3 (no bias, N(0, 0.05²)) → ActNorm → ReLU → conv1x1 (no bias, N(0, 0.05²)) → ActNorm →
 * ReLU → conv3x3 with weight and bias initialised to 0, each output channel multiplied by
 * `exp(3·logs)` (logs initialised to 0). The zero output layer makes every coupling start as a
 * fixed scaling. The ActNorms initialise from data inside `withDataInit`; their log-dets are not
 * part of the flow's and are dropped.
 *
 * All convolutions go through the op set in force (`FusedOps`). When it fuses (an installed
 * runtime such as `@hierglow/backend-wasm`, outside data-dependent initialisation) each ActNorm
 * is folded into the convolution before it, `(conv(x, W) + loc)·s = conv(x, W·s) + loc·s`, and
 * the ReLU fused in: three convolution-with-bias kernels and no activation-sized element-wise
 * ops. The ActNorms' gradients then come from the small weight products, not from reductions
 * over every activation.
 *
 * Variables: `conv1.weight`, `norm1.loc`, `norm1.logs`, `conv2.weight`, `norm2.loc`,
 * `norm2.logs`, `conv3.weight`, `conv3.bias`, `conv3.logs` (all trainable). Kernels are
 * `[kh, kw, in, out]`.
 *
 * @example
 * const net = new ConvCouplingNet({ inChannels: 6, outChannels: 12, hidden: 512, seed: 1 });
 * const coupling = new AffineCoupling({ channels: 12, net });
 */
export class ConvCouplingNet implements CouplingNet {
  readonly type = 'ConvCouplingNet';
  readonly inChannels: number;
  readonly outChannels: number;
  readonly hidden: number;
  readonly seed: number;
  private readonly conv1: tf.Variable;
  private readonly norm1: ActNorm;
  private readonly conv2: tf.Variable;
  private readonly norm2: ActNorm;
  private readonly conv3: tf.Variable;
  private readonly bias3: tf.Variable;
  private readonly logs3: tf.Variable;

  constructor(options: ConvCouplingNetOptions) {
    const { inChannels, outChannels, hidden = 512, seed } = options;
    assertPositiveIntegers('ConvCouplingNet', { inChannels, outChannels, hidden });
    assertSeed('ConvCouplingNet', seed);
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.hidden = hidden;
    this.seed = seed;
    const rng = createRng(seed);
    // Variables are not tracked by tf.tidy; the tidy only frees the initial-value tensors.
    [this.conv1, this.conv2, this.conv3, this.bias3, this.logs3] = tf.tidy(() => [
      ownedVariable(normalTensor([3, 3, inChannels, hidden], INIT_STD, rng), true),
      ownedVariable(normalTensor([1, 1, hidden, hidden], INIT_STD, rng), true),
      ownedVariable(tf.zeros([3, 3, hidden, outChannels]), true),
      ownedVariable(tf.zeros([outChannels]), true),
      ownedVariable(tf.zeros([outChannels]), true),
    ]);
    this.norm1 = new ActNorm({ shape: [hidden] });
    this.norm2 = new ActNorm({ shape: [hidden] });
  }

  /** @param x `[batch, height, width, inChannels]` (NHWC) → `[batch, height, width, outChannels]` */
  apply(x: tf.Tensor): tf.Tensor {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new ShapeError(
        `ConvCouplingNet expects an NHWC input [batch, height, width, ${this.inChannels}], got [${x.shape}]`,
      );
    }
    const ops = fusedOps();
    if (ops.fuse && activeDataInitPass() === null) return this.applyFolded(x as tf.Tensor4D);
    const { conv2d } = ops;
    return tf.tidy(() => {
      let h = conv2d(x as tf.Tensor4D, this.conv1 as tf.Tensor4D, 'same');
      h = tf.relu(this.norm1.forward(h)) as tf.Tensor4D;
      h = conv2d(h, this.conv2 as tf.Tensor4D, 'same');
      h = tf.relu(this.norm2.forward(h)) as tf.Tensor4D;
      const out = tf.add(conv2d(h, this.conv3 as tf.Tensor4D, 'same'), this.bias3);
      return tf.mul(out, tf.exp(tf.mul(this.logs3, LOGSCALE_FACTOR)));
    });
  }

  /** {@link apply} with the ActNorms folded into the convolutions (same function). */
  private applyFolded(x: tf.Tensor4D): tf.Tensor4D {
    const { conv2dBias, scaleColumns } = fusedOps();
    return tf.tidy(() => {
      const layer = (h: tf.Tensor4D, w: tf.Variable, norm: ActNorm) => {
        // The net's ActNorms have eps 0: their scale is exp(logs).
        const folded = scaleColumns(w, norm.loc as tf.Tensor1D, norm.logs as tf.Tensor1D, 1);
        return conv2dBias(h, folded.w as tf.Tensor4D, folded.b, 'same', 'relu');
      };
      const h = layer(layer(x, this.conv1, this.norm1), this.conv2, this.norm2);
      const last = scaleColumns(
        this.conv3,
        this.bias3 as tf.Tensor1D,
        this.logs3 as tf.Tensor1D,
        LOGSCALE_FACTOR,
      );
      return conv2dBias(h, last.w as tf.Tensor4D, last.b, 'same', 'linear');
    });
  }

  variables(): NamedVariables {
    return {
      'conv1.weight': this.conv1,
      ...prefixVariables('norm1', this.norm1.variables()),
      'conv2.weight': this.conv2,
      ...prefixVariables('norm2', this.norm2.variables()),
      'conv3.weight': this.conv3,
      'conv3.bias': this.bias3,
      'conv3.logs': this.logs3,
    };
  }

  getConfig(): CouplingNetConfig {
    return {
      type: this.type,
      inChannels: this.inChannels,
      outChannels: this.outChannels,
      hidden: this.hidden,
      seed: this.seed,
    };
  }

  dispose(): void {
    for (const v of Object.values(this.variables())) v.dispose();
  }
}

registerCouplingNet(
  'ConvCouplingNet',
  (config) => new ConvCouplingNet(config as unknown as ConvCouplingNetOptions),
);
