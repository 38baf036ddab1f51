import * as tf from '@tensorflow/tfjs-core';
import { ShapeError } from '../errors.js';

export type ConvPadding = 'same' | 'valid';

/**
 * 2-D convolution (NHWC, stride 1, dilation 1, odd kernel sizes) whose input and filter
 * gradients are themselves forward convolutions.
 *
 * Why: the wasm backend has no `Conv2DBackpropFilter` kernel, and the cpu backend's native one
 * runs at ~0.01 GFLOP/s. Expressing all three passes through the forward `Conv2D` kernel (which
 * XNNPACK accelerates on wasm) makes the gradient available on every backend and fast.
 *
 * - input gradient: `dx = conv(dy, W')` with `W'` the spatially flipped filter with its in/out
 *   channels swapped, padded so the result has the input's size;
 * - filter gradient: a convolution of the channel-major padded input with the batch-major
 *   output gradient: batch and channel axes swap roles, so the sum over (batch, h, w) becomes
 *   a convolution's inner sum.
 *
 * @param x `[batch, height, width, inChannels]`
 * @param filter `[kh, kw, inChannels, outChannels]`
 */
export function conv2d(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  padding: ConvPadding = 'same',
): tf.Tensor4D {
  const [kh, kw, inC] = filter.shape;
  if (x.rank !== 4)
    throw new ShapeError(`conv2d expects a rank-4 NHWC input, got shape [${x.shape}]`);
  if (x.shape[3] !== inC) {
    throw new ShapeError(`conv2d: input has ${x.shape[3]} channels but the filter expects ${inC}`);
  }
  if (kh % 2 !== 1 || kw % 2 !== 1) {
    throw new ShapeError(`conv2d supports odd kernel sizes only, got ${kh}x${kw}`);
  }
  return convWithGrad(x, filter, padding);
}

function convWithGrad(x: tf.Tensor4D, filter: tf.Tensor4D, padding: ConvPadding): tf.Tensor4D {
  const run = tf.customGrad(((xIn: tf.Tensor, wIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const xt = xIn as tf.Tensor4D;
    const wt = wIn as tf.Tensor4D;
    save([xt, wt]);
    return {
      value: tf.conv2d(xt, wt, 1, padding),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const g = dy as tf.Tensor4D;
        return [inputGrad(g, ws, padding), filterGrad(xs, g, ws.shape, padding)];
      },
    };
  }) as Parameters<typeof tf.customGrad>[0]);
  return run(x, filter) as tf.Tensor4D;
}

function inputGrad(dy: tf.Tensor4D, w: tf.Tensor4D, padding: ConvPadding): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = w.shape;
    const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    if (padding === 'same') return tf.conv2d(dy, flipped, 1, 'same');
    const padded = tf.pad(dy, [
      [0, 0],
      [kh - 1, kh - 1],
      [kw - 1, kw - 1],
      [0, 0],
    ]);
    return tf.conv2d(padded, flipped, 1, 'valid');
  });
}

function filterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  wShape: [number, number, number, number],
  padding: ConvPadding,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = wShape;
    const ph = padding === 'same' ? (kh - 1) / 2 : 0;
    const pw = padding === 'same' ? (kw - 1) / 2 : 0;
    const xp =
      ph === 0 && pw === 0
        ? x
        : tf.pad(x, [
            [0, 0],
            [ph, ph],
            [pw, pw],
            [0, 0],
          ]);
    // [inC, Hp, Wp, batch] convolved with [H, W, batch, outC] gives [inC, kh, kw, outC].
    const xT = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D;
    const dyT = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D;
    const g = tf.conv2d(xT, dyT, 1, 'valid');
    return tf.transpose(g, [1, 2, 0, 3]) as tf.Tensor4D;
  });
}
