import type { Rng } from '@hierglow/random';
import { InvalidArgumentError } from '../errors.js';
import type { ImageBatch } from '../image-dataset.js';
import { greyOf } from './grey.js';
import { resizeBilinearPil } from './resize-bilinear.js';

/**
 * How the model sees an 8-bit pixel v (spec 2.1): `x = v/256 − 0.5 + u` with
 * - 'uniform': u ~ U[0, 1/256) per value (training, data-dependent init, in-training evaluation);
 * - 'bin-centre': u = 1/512 (final evaluation);
 * - 'none': u = 0.
 */
export type NoiseMode = 'uniform' | 'bin-centre' | 'none';

/** Spec 2 transforms, applied in the reference order: resize, grey, translate, flip, scale + noise. */
export interface TransformOptions {
  /** Output [height, width] (or one number); other sizes are resized with Pillow's bilinear. */
  size?: number | [number, number];
  /** 1 converts RGB to grey with the spec's weights; default: the dataset's channel count. */
  channels?: 1 | 3;
  /**
   * Random translation, as a fraction of the size (0.1 → ±3 px on 32): like torchvision's
   * RandomAffine, each axis shifts by round(U(−0.1·size, 0.1·size)) pixels, uncovered pixels
   * are 0 (x = −0.5). 0 (default) is off.
   */
  translate?: number;
  /** Random horizontal flip with probability ½ (spec: CIFAR and Tiny, not SVHN or MNIST). */
  hflip?: boolean;
  /**
   * Ren et al. 2019's input perturbation for a likelihood-ratio background model: every value is
   * replaced, with this probability, by a uniformly drawn 8-bit level (after resize, grey,
   * translation and flip; before scaling and noise). 0 (default) is off.
   */
  perturb?: number;
  noise: NoiseMode;
}

/** The resolved shape of a transform's output. */
export interface TransformShape {
  height: number;
  width: number;
  channels: number;
}

/** Output shape of `options` applied to images of the given shape; checks the options. */
export function transformShape(
  input: { height: number; width: number; channels: number },
  options: TransformOptions,
): TransformShape {
  const [height, width] =
    options.size === undefined
      ? [input.height, input.width]
      : typeof options.size === 'number'
        ? [options.size, options.size]
        : options.size;
  if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) {
    throw new InvalidArgumentError(
      `transform size must be positive integers, got ${JSON.stringify(options.size)}`,
    );
  }
  const channels = options.channels ?? input.channels;
  if (channels !== input.channels && !(channels === 1 && input.channels === 3)) {
    throw new InvalidArgumentError(
      `transform cannot turn ${input.channels}-channel images into ${channels} channels (only RGB → grey is supported)`,
    );
  }
  const t = options.translate ?? 0;
  if (!(t >= 0 && t < 1)) throw new InvalidArgumentError(`translate must be in [0, 1), got ${t}`);
  const mu = options.perturb ?? 0;
  if (!(mu >= 0 && mu <= 1)) throw new InvalidArgumentError(`perturb must be in [0, 1], got ${mu}`);
  if (!['uniform', 'bin-centre', 'none'].includes(options.noise)) {
    throw new InvalidArgumentError(
      `noise must be 'uniform', 'bin-centre' or 'none', got ${String(options.noise)}`,
    );
  }
  return { height, width, channels };
}

/**
 * Applies the spec 2 transforms to a uint8 NHWC batch and returns float32 NHWC model input.
 * Random choices (shifts, flips, noise) come from `rng`, in a fixed order per image, so the
 * same rng state gives the same output.
 *
 * Grey conversion keeps the float value when nothing is augmented, and truncates to uint8
 * when translation or flipping is on, as the reference's PIL round trip does (spec 2.2).
 */
export function transformBatch(
  batch: ImageBatch,
  options: TransformOptions,
  rng: Rng,
  out?: Float32Array,
): Float32Array {
  const { height: H, width: W, channels: C } = transformShape(batch, options);
  const n = batch.count;
  const plane = H * W;
  const result = out ?? new Float32Array(n * plane * C);
  if (result.length !== n * plane * C) {
    throw new InvalidArgumentError(
      `output buffer holds ${result.length} values, the batch needs ${n * plane * C}`,
    );
  }
  const inBytes = batch.height * batch.width * batch.channels;
  const resized = new Uint8Array(plane * batch.channels);
  const values = new Float32Array(plane * C); // v in [0, 255], before shifting
  const maxDx = (options.translate ?? 0) * W;
  const maxDy = (options.translate ?? 0) * H;
  const augment = maxDx > 0 || maxDy > 0 || Boolean(options.hflip);
  const grey = C === 1 && batch.channels === 3;
  const noise = options.noise;
  const perturb = options.perturb ?? 0;
  for (let b = 0; b < n; b++) {
    const src = batch.pixels.subarray(b * inBytes, (b + 1) * inBytes);
    const img =
      batch.height === H && batch.width === W
        ? src
        : resizeBilinearPil(src, batch.height, batch.width, batch.channels, H, W, resized);
    if (grey) {
      for (let p = 0; p < plane; p++) {
        const g = greyOf(img[3 * p]!, img[3 * p + 1]!, img[3 * p + 2]!);
        values[p] = augment ? Math.floor(g) : g;
      }
    } else {
      for (let i = 0; i < values.length; i++) values[i] = img[i]!;
    }
    // torchvision RandomAffine: tx = round(U(-max_dx, max_dx)), then ty; then the flip coin.
    const tx = maxDx > 0 ? Math.round((rng.uniform() * 2 - 1) * maxDx) : 0;
    const ty = maxDy > 0 ? Math.round((rng.uniform() * 2 - 1) * maxDy) : 0;
    const flip = options.hflip ? rng.uniform() < 0.5 : false;
    const base = b * plane * C;
    for (let y = 0; y < H; y++) {
      const sy = y - ty;
      const rowInside = sy >= 0 && sy < H;
      for (let x = 0; x < W; x++) {
        const sx = (flip ? W - 1 - x : x) - tx;
        const inside = rowInside && sx >= 0 && sx < W;
        const o = base + (y * W + x) * C;
        const s = (sy * W + sx) * C;
        for (let c = 0; c < C; c++) {
          let v = inside ? values[s + c]! : 0;
          if (perturb > 0 && rng.uniform() < perturb) v = rng.int(256);
          const u =
            noise === 'uniform' ? rng.uniform() / 256 : noise === 'bin-centre' ? 1 / 512 : 0;
          result[o + c] = v / 256 - 0.5 + u;
        }
      }
    }
  }
  return result;
}

/** Datasets whose spec 2.2 augmentation is known. */
export type SpecDatasetName =
  | 'cifar10'
  | 'cifar100'
  | 'svhn'
  | 'mnist'
  | 'fashion-mnist'
  | 'tiny'
  | 'tiny-grey';

/**
 * - 'train': spec augmentation + uniform noise (training and data-dependent init);
 * - 'eval-noisy': no augmentation, uniform noise (the reference's per-epoch evaluation);
 * - 'eval': no augmentation, bin-centre values (final evaluation).
 */
export type TransformMode = 'train' | 'eval-noisy' | 'eval';

/** The spec 2.2 transform of a dataset in a mode (all outputs are 32x32). */
export function specTransform(dataset: SpecDatasetName, mode: TransformMode): TransformOptions {
  const train = mode === 'train';
  const noise: NoiseMode = mode === 'eval' ? 'bin-centre' : 'uniform';
  const translate = train ? 0.1 : 0;
  switch (dataset) {
    case 'cifar10':
    case 'cifar100':
    case 'tiny':
      return { size: 32, translate, hflip: train, noise };
    case 'tiny-grey':
      return { size: 32, channels: 1, translate, hflip: train, noise };
    case 'svhn':
      return { size: 32, translate, hflip: false, noise };
    case 'mnist':
    case 'fashion-mnist':
      return { size: 32, channels: 1, translate, hflip: false, noise };
    default:
      throw new InvalidArgumentError(`no spec transform for '${String(dataset)}'`);
  }
}
