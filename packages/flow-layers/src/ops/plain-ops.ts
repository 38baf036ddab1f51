import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';
import type { FusedOps } from './fused-ops.js';

/** Offset added to the raw scale before the sigmoid, so s = σ(2) ≈ 0.8808 at r = 0 (spec 3.3c). */
export const SCALE_OFFSET = 2;

/**
 * Σ log σ(z) per example, as −Σ softplus(−z): stable for large |z|, and the final negation acts
 * on `[batch]` only (negation is exact, so this equals summing −softplus(−z)). Not
 * `tf.logSigmoid`: its custom gradient captures its input without saving it, so inside a
 * `tf.tidy` under a gradient tape the input is disposed before the backward pass needs it.
 */
export function sumLogSigmoid(z: tf.Tensor): tf.Tensor1D {
  return tf.neg(sumPerExample(tf.softplus(tf.neg(z)))) as tf.Tensor1D;
}

/** Sum over every axis but the batch axis: `[B, ...] → [B]`. */
function sumPerExample(v: tf.Tensor): tf.Tensor1D {
  return tf.sum(tf.reshape(v, [v.shape[0]!, -1]), 1) as tf.Tensor1D;
}

function lastAxis(x: tf.Tensor, who: string, mustBeEven = true): number {
  if (x.rank < 1) throw new ShapeError(`${who} needs a tensor of rank >= 1, got a scalar`);
  const c = x.shape[x.rank - 1]!;
  if (mustBeEven && c % 2 !== 0) {
    throw new ShapeError(`${who} needs an even last axis, got shape [${x.shape}]`);
  }
  return c;
}

function deinterleaveChannels(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const half = lastAxis(x, 'deinterleaveChannels') / 2;
  return tf.tidy(() => {
    const shape = [...x.shape.slice(0, -1), half];
    const pairs = tf.reshape(x, [...shape, 2]);
    const [even, odd] = tf.split(pairs, 2, pairs.rank - 1);
    return [tf.reshape(even!, shape), tf.reshape(odd!, shape)] as [tf.Tensor, tf.Tensor];
  });
}

/**
 * Every op of {@link FusedOps} written with stock tfjs ops and their stock gradients: the
 * reference the fused sets are tested against, and what runs on any backend without one.
 */
export const PLAIN_OPS: FusedOps = {
  activeOn: () => true,
  fuse: false,
  matMul(a, b) {
    if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0]) {
      throw new ShapeError(`matMul: cannot multiply [${a.shape}] by [${b.shape}]`);
    }
    return tf.matMul(a, b);
  },
  matMulBias(x, w, b) {
    if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[0] || b.rank !== 1) {
      throw new ShapeError(`matMulBias: cannot multiply [${x.shape}] by [${w.shape}]`);
    }
    return tf.tidy(() => tf.add(tf.matMul(x, w), b) as tf.Tensor2D);
  },
  conv2d(x, filter, padding = 'same') {
    return tf.conv2d(x, filter, 1, padding);
  },
  conv2dBias(x, filter, bias, padding = 'same', activation = 'linear') {
    return tf.tidy(() => {
      const y = tf.add(tf.conv2d(x, filter, 1, padding), bias) as tf.Tensor4D;
      return activation === 'relu' ? (tf.relu(y) as tf.Tensor4D) : y;
    });
  },
  scaleColumns(w, b, logs, factor) {
    const c = w.shape[w.rank - 1]!;
    if (b.rank !== 1 || logs.rank !== 1 || b.shape[0] !== c || logs.shape[0] !== c) {
      throw new ShapeError(
        `scaleColumns: w [${w.shape}] needs b and logs of shape [${c}], got [${b.shape}] and [${logs.shape}]`,
      );
    }
    return tf.tidy(() => {
      const s = tf.exp(factor === 1 ? logs : tf.mul(logs, factor));
      return { w: tf.mul(w, s), b: tf.mul(b, s) as tf.Tensor1D };
    });
  },
  luWeight: () => null,
  affineCoupling(xb, h) {
    const half = xb.shape[xb.rank - 1]!;
    if (h.rank !== xb.rank || !tf.util.arraysEqual(h.shape, [...xb.shape.slice(0, -1), 2 * half])) {
      throw new ShapeError(
        `affineCoupling: net output [${h.shape}] does not match the half [${xb.shape}]`,
      );
    }
    return tf.tidy(() => {
      const [shift, raw] = deinterleaveChannels(h);
      const preScale = tf.add(raw, SCALE_OFFSET);
      const yb = tf.mul(tf.add(xb, shift), tf.sigmoid(preScale));
      return { yb, logDet: sumLogSigmoid(preScale) };
    });
  },
  affineCouplingInverseGrad(yb, h, dyb, dLogDet) {
    const half = yb.shape[yb.rank - 1]!;
    const batch = yb.shape[0]!;
    if (
      h.rank !== yb.rank ||
      !tf.util.arraysEqual(h.shape, [...yb.shape.slice(0, -1), 2 * half]) ||
      !tf.util.arraysEqual(dyb.shape, yb.shape) ||
      !tf.util.arraysEqual(dLogDet.shape, [batch])
    ) {
      throw new ShapeError(
        `affineCouplingInverseGrad: shapes yb [${yb.shape}], h [${h.shape}], dyb [${dyb.shape}], dLogDet [${dLogDet.shape}] do not match`,
      );
    }
    return tf.tidy(() => {
      const [shift, raw] = deinterleaveChannels(h);
      const s = tf.sigmoid(tf.add(raw, SCALE_OFFSET));
      const xb = tf.sub(tf.div(yb, s), shift);
      const dxb = tf.mul(dyb, s);
      const perExample = tf.reshape(dLogDet, [batch, ...new Array<number>(yb.rank - 1).fill(1)]);
      // u·s = yb, so the forward gradient's g·u is dyb·yb here (no rounding of yb/s in it).
      const dRaw = tf.mul(tf.add(tf.mul(dyb, yb), perExample), tf.sub(1, s));
      const dh = tf.reshape(tf.stack([dxb, dRaw], yb.rank), h.shape);
      return { xb, dxb, dh };
    });
  },
  splitChannelHalves(x) {
    lastAxis(x, 'splitChannelHalves');
    const [a, b] = tf.split(x, 2, x.rank - 1);
    return [a!, b!];
  },
  concatChannelHalves(a, b) {
    lastAxis(a, 'concatChannelHalves', false);
    if (!tf.util.arraysEqual(a.shape, b.shape)) {
      throw new ShapeError(
        `concatChannelHalves needs equal shapes, got [${a.shape}] and [${b.shape}]`,
      );
    }
    return tf.concat([a, b], a.rank - 1);
  },
  deinterleaveChannels,
};
