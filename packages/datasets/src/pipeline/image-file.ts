import { createRng } from '@hierglow/random';
import { CorruptDatasetError, InvalidArgumentError } from '../errors.js';
import { resizeBilinearPil } from './resize-bilinear.js';
import { transformBatch } from './transforms.js';

/**
 * One image file the way `hierglow score --data FOLDER` brings it to a model, in plain
 * TypeScript (no Node built-in, no sharp), so that a web page that decodes the file itself
 * (createImageBitmap, a canvas) computes the same model input as the CLI.
 */

/**
 * Bounds that keep a folder of large (or crafted) images from exhausting memory. Both are read
 * from the file's header, before any pixel is decoded:
 * - `maxPixels`: larger images are refused (2^25, e.g. 8192x4096);
 * - `defaultMaxSide`: without a `size`, the dataset takes the first image's size scaled down
 *   so that its longer side is at most this (and images are resized to it), so that a batch
 *   of photos stays small; pass `size` to choose another.
 */
export const IMAGE_FOLDER_LIMITS = Object.freeze({ maxPixels: 2 ** 25, defaultMaxSide: 256 });

/**
 * The size an image folder takes from its first image when no size is given: the image's own,
 * or scaled down to a longer side of {@link IMAGE_FOLDER_LIMITS}' `defaultMaxSide`
 * (`capped`, and then every image is resized to it).
 */
export function imageFolderSize(
  height: number,
  width: number,
): { height: number; width: number; capped: boolean } {
  const scale = Math.min(1, IMAGE_FOLDER_LIMITS.defaultMaxSide / Math.max(height, width));
  if (scale >= 1) return { height, width, capped: false };
  return {
    height: Math.max(1, Math.round(height * scale)),
    width: Math.max(1, Math.round(width * scale)),
    capped: true,
  };
}

/** Refuses images over {@link IMAGE_FOLDER_LIMITS}' `maxPixels`, with the folder reader's words. */
export function checkImagePixels(name: string, height: number, width: number): void {
  if (width * height > IMAGE_FOLDER_LIMITS.maxPixels) {
    throw new CorruptDatasetError(
      `${name}: ${width}x${height} pixels (${((width * height) / 1e6).toFixed(1)} megapixels) is more than the ` +
        `${(IMAGE_FOLDER_LIMITS.maxPixels / 1e6).toFixed(1)} megapixels image folders decode; downscale it first`,
    );
  }
}

/**
 * RGBA bytes (not premultiplied, as `getImageData` returns them) to RGB flattened onto black,
 * as the folder reader's sharp `flatten({ background: black })` does: `⌊v·α/255⌋` (libvips
 * truncates; checked against it for every value and alpha).
 */
export function rgbaOnBlack(
  rgba: Uint8Array | Uint8ClampedArray,
  out = new Uint8Array((rgba.length / 4) * 3),
): Uint8Array {
  if (rgba.length % 4 !== 0 || out.length !== (rgba.length / 4) * 3) {
    throw new InvalidArgumentError(
      `rgbaOnBlack: ${rgba.length} RGBA bytes and an output of ${out.length} bytes do not match`,
    );
  }
  for (let p = 0, q = 0; p < rgba.length; p += 4, q += 3) {
    const a = rgba[p + 3]!;
    if (a === 255) {
      out[q] = rgba[p]!;
      out[q + 1] = rgba[p + 1]!;
      out[q + 2] = rgba[p + 2]!;
    } else {
      for (let c = 0; c < 3; c++) out[q + c] = Math.floor((rgba[p + c]! * a) / 255);
    }
  }
  return out;
}

/** The model's input size, NHWC without the batch. */
export interface ModelImageShape {
  height: number;
  width: number;
  channels: number;
}

/**
 * The model input (float32 HWC, bin-centre values `v/256 − 0.5 + 1/512`) of one decoded image
 * file given as 8-bit RGB, as `hierglow score` computes it for a folder that holds this image
 * alone: an image over {@link IMAGE_FOLDER_LIMITS}' side limit first shrinks to
 * {@link imageFolderSize}, then the evaluation transform resizes it to the model's size with
 * Pillow's bilinear and, for a grey model, converts it with the spec's weights (kept as floats:
 * evaluation does not augment).
 *
 * One difference is known: the CLI does the first shrink (images over 256 px a side only) with
 * libvips' linear kernel, this function with Pillow's bilinear, so such images can differ
 * slightly. Images up to 256 px a side get exactly the CLI's values.
 */
export function imageFileModelInput(
  name: string,
  rgb: Uint8Array,
  height: number,
  width: number,
  shape: ModelImageShape,
): Float32Array {
  checkImagePixels(name, height, width);
  if (rgb.length !== height * width * 3) {
    throw new InvalidArgumentError(
      `${name}: ${rgb.length} bytes are not a ${height}x${width} RGB image (${height * width * 3} bytes)`,
    );
  }
  if (shape.channels !== 1 && shape.channels !== 3) {
    throw new InvalidArgumentError(
      `${name}: the model takes ${shape.channels}-channel images; only grey (1) and RGB (3) models read image files`,
    );
  }
  const size = imageFolderSize(height, width);
  const pixels = size.capped
    ? resizeBilinearPil(rgb, height, width, 3, size.height, size.width)
    : rgb;
  return transformBatch(
    { count: 1, height: size.height, width: size.width, channels: 3, pixels },
    {
      size: [shape.height, shape.width],
      ...(shape.channels === 1 ? { channels: 1 as const } : {}),
      noise: 'bin-centre',
    },
    // Nothing random happens without translation, flips, perturbation or uniform noise; the
    // transform only asks for a generator.
    createRng(0),
  );
}

/**
 * The model input of 8-bit images already at the model's size and channels (NHWC bytes), with
 * the same bin-centre values: `v/256 − 0.5 + 1/512`.
 */
export function bytesModelInput(
  pixels: Uint8Array,
  count: number,
  shape: ModelImageShape,
): Float32Array {
  return transformBatch(
    { count, ...shape, pixels },
    { size: [shape.height, shape.width], noise: 'bin-centre' },
    createRng(0),
  );
}
