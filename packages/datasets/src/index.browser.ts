/**
 * @hierglow/datasets in a browser (the `browser` condition of package.json's `exports`): the
 * spec 2 transforms and the preprocessing of one image file, which a page needs to feed a model
 * exactly what `hierglow score` feeds it. Readers of files and folders, downloads and the
 * general-set builder need Node (and sharp) and are exported from index.ts only.
 */

export { createRng, deriveSeed, type Rng, randomPermutation } from '@hierglow/random';
export {
  CorruptDatasetError,
  DatasetError,
  type DatasetRemedy,
  InvalidArgumentError,
} from './errors.js';
export type { ImageBatch } from './image-dataset.js';
export { GREY_WEIGHTS, greyOf, rgbToGreyBytes } from './pipeline/grey.js';
export {
  bytesModelInput,
  checkImagePixels,
  IMAGE_FOLDER_LIMITS,
  imageFileModelInput,
  imageFolderSize,
  type ModelImageShape,
  rgbaOnBlack,
} from './pipeline/image-file.js';
export { resizeBilinearPil } from './pipeline/resize-bilinear.js';
export {
  type NoiseMode,
  type SpecDatasetName,
  specTransform,
  type TransformMode,
  type TransformOptions,
  type TransformShape,
  transformBatch,
  transformShape,
} from './pipeline/transforms.js';
