import { InvalidImageError, InvalidOptionError, LengthMismatchError } from '../errors.js';
import {
  type PerExampleValues,
  readPerExample,
  type TensorLike,
} from '../scores/per-example-values.js';
import { encodePng } from './png-encoder.js';

/** A batch of 8-bit images, NHWC: `data[((n * H + y) * W + x) * C + c]`, values 0..255. */
export interface ImageBatch {
  data: ArrayLike<number>;
  shape: readonly [number, number, number, number];
}

/** Options of {@link pngComplexityBitsPerDim}. */
export interface ComplexityOptions {
  /**
   * `'reference'` (default): write 3- and 4-channel images with the first and third channel
   * swapped, as OpenCV's `imwrite` does with the RGB arrays the Serra replication hands it (it
   * reads them as BGR). This reproduces the reference byte counts. `'as-given'`: channels as
   * stored. The difference is usually a few bytes per image.
   */
  channelOrder?: 'reference' | 'as-given';
}

function batchOf(images: ImageBatch | TensorLike): { data: ArrayLike<number>; shape: number[] } {
  const isTensor = typeof (images as TensorLike).dataSync === 'function';
  const shape = [...images.shape];
  if (shape.length === 3) shape.unshift(1); // a single HWC image
  if (shape.length !== 4) {
    throw new InvalidImageError(
      `images must be NHWC [n, height, width, channels] (or one HWC image), got shape [${images.shape.join(', ')}].`,
    );
  }
  const data = isTensor ? (images as TensorLike).dataSync() : (images as ImageBatch).data;
  const expected = shape.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new InvalidImageError(
      `shape [${shape.join(', ')}] needs ${expected} values, got ${data.length}.`,
    );
  }
  return { data, shape };
}

/**
 * Input complexity of Serra et al. (2020) as the reference replicates it (spec 8): the length of
 * each image's PNG at maximum compression, in bits per dimension, 8 * bytes / (H * W * C). The
 * PNG is byte-identical to OpenCV's `imencode('.png', img, [IMWRITE_PNG_COMPRESSION, 9])` (see
 * {@link encodePng}). Takes 8-bit values v, not model inputs v / 256 - 0.5.
 *
 * @example
 * const complexity = pngComplexityBitsPerDim({ data: uint8Nhwc, shape: [n, 32, 32, 3] });
 */
export function pngComplexityBitsPerDim(
  images: ImageBatch | TensorLike,
  options: ComplexityOptions = {},
): Float64Array {
  const { channelOrder = 'reference' } = options;
  if (channelOrder !== 'reference' && channelOrder !== 'as-given') {
    throw new InvalidOptionError(
      `channelOrder must be 'reference' or 'as-given', got '${channelOrder}'.`,
    );
  }
  const { data, shape } = batchOf(images);
  const [n, height, width, channels] = shape as [number, number, number, number];
  if (n === 0) throw new InvalidImageError('images is an empty batch.');
  const perImage = height * width * channels;
  const swap = channelOrder === 'reference' && channels >= 3;
  const image = new Uint8Array(perImage);
  const result = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const base = i * perImage;
    for (let j = 0; j < perImage; j++) {
      const v = data[base + j] as number;
      if (!(Number.isInteger(v) && v >= 0 && v <= 255)) {
        throw new InvalidImageError(
          `image ${i} has value ${v} at offset ${j}: expected integers in [0, 255]. ` +
            'Model inputs x = v / 256 - 0.5 convert back with v = round((x + 0.5) * 256).',
        );
      }
      image[j] = v;
    }
    if (swap) {
      for (let p = 0; p < perImage; p += channels) {
        const r = image[p]!;
        image[p] = image[p + 2]!;
        image[p + 2] = r;
      }
    }
    result[i] = (8 * encodePng(image, { height, width, channels }).length) / perImage;
  }
  return result;
}

function pairedValues(
  bpdModel: PerExampleValues,
  complexityBpd: ArrayLike<number>,
): [Float64Array, Float64Array] {
  const model = readPerExample(bpdModel, 'bpdModel');
  const complexity = readPerExample(complexityBpd, 'complexityBpd');
  if (model.length !== complexity.length) {
    throw new LengthMismatchError(
      `bpdModel has ${model.length} examples but complexityBpd has ${complexity.length}; they pair by index.`,
    );
  }
  return [model, complexity];
}

/**
 * Serra et al.'s S-score, S(x) = bpd_model(x) - L(x) with L the PNG complexity in bits/dim:
 * **higher = more out-of-distribution** (their convention, and the reference's). For the metrics
 * of this package, which expect higher = in-distribution, use {@link inputComplexityScore}.
 *
 * @example
 * const s = serraScore(model.logProb(x).bitsPerDim, pngComplexityBitsPerDim(images)); // OOD high
 */
export function serraScore(
  bpdModel: PerExampleValues,
  complexityBpd: ArrayLike<number>,
): Float64Array {
  const [model, complexity] = pairedValues(bpdModel, complexityBpd);
  return model.map((b, i) => b - (complexity[i] as number));
}

/**
 * -S = L(x) - bpd_model(x): the input-complexity score with higher = more in-distribution, ready
 * for {@link auroc} and friends. The AUROC equals the reference's (which labels OOD as positive on S).
 *
 * @example
 * auroc(inputComplexityScore(bpdIn, complexityIn), inputComplexityScore(bpdOut, complexityOut));
 */
export function inputComplexityScore(
  bpdModel: PerExampleValues,
  complexityBpd: ArrayLike<number>,
): Float64Array {
  const [model, complexity] = pairedValues(bpdModel, complexityBpd);
  return complexity.map((c, i) => c - (model[i] as number));
}
