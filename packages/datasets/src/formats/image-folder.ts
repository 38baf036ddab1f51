import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import sharp from 'sharp';
import { CorruptDatasetError, DatasetNotFoundError, InvalidArgumentError } from '../errors.js';
import { type ImageDataset, ImageDatasetBase } from '../image-dataset.js';
import { rgbToGreyBytes } from '../pipeline/grey.js';
import { checkImagePixels, IMAGE_FOLDER_LIMITS, imageFolderSize } from '../pipeline/image-file.js';

export { IMAGE_FOLDER_LIMITS };

/** File extensions read as images (case-insensitive). */
export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;

/**
 * How images are brought to the dataset size:
 * - 'none': every image must already have it (default when no size is given);
 * - 'cover': scale so the shorter side fits, then centre-crop (torchvision `Resize(s)` +
 *   `CenterCrop(s)`, the reference's LSUN preprocessing; default when a size is given);
 * - 'fill': scale each axis independently (torchvision `Resize((h, w))`, Tiny-ImageNet).
 */
export type ResizePolicy = 'none' | 'cover' | 'fill';

/** Options of {@link openImageFolder}. */
export interface ImageFolderOptions {
  /** Output size [height, width] (or one number for square). Default: the first image's size. */
  size?: number | [number, number];
  resize?: ResizePolicy;
  /**
   * Resampling kernel for resizing (sharp names). Default 'linear': bilinear with antialiasing
   * when shrinking, like PIL's BILINEAR that torchvision uses.
   */
  kernel?: 'nearest' | 'linear' | 'cubic' | 'mitchell' | 'lanczos2' | 'lanczos3';
  /** 3 (RGB, default) or 1 (grey by the spec's weights, truncated to uint8). */
  channels?: 1 | 3;
  /**
   * 'auto' (default): label by top-level subfolder when every image is inside one (ImageFolder
   * style, classes in sorted name order); 'none': no labels.
   */
  labels?: 'auto' | 'none';
  /** How many images to decode at once (default 4). */
  concurrency?: number;
  details?: Record<string, unknown>;
}

/** Lists image files under `dir` recursively, sorted by relative path; hidden entries skipped. */
export async function listImageFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    const entries = await readdir(d, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (
        e.isFile() &&
        (IMAGE_EXTENSIONS as readonly string[]).includes(extname(e.name).toLowerCase())
      )
        out.push(p);
    }
  };
  await walk(dir);
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * A folder of PNG/JPEG images as a dataset, decoded on demand with sharp. EXIF orientation is
 * applied; transparency is flattened onto black; grey images become RGB (or stay grey with
 * `channels: 1`). For repeated training, convert it once with `writeHierglowDataset`.
 */
export async function openImageFolder(
  dir: string,
  options: ImageFolderOptions = {},
): Promise<ImageDataset> {
  let files: string[];
  try {
    files = await listImageFiles(dir);
  } catch (e) {
    throw new DatasetNotFoundError(`${dir}: cannot list the folder (${(e as Error).message})`, {
      cause: e,
    });
  }
  if (files.length === 0) {
    throw new DatasetNotFoundError(
      `${dir}: no ${IMAGE_EXTENSIONS.join('/')} images in this folder or below`,
    );
  }
  let size = options.size;
  let capped = false;
  if (size === undefined) {
    // From the header of the first image: nothing is decoded to learn the size.
    const first = await imageHeader(files[0]!, await readImageFile(files[0]!));
    const folderSize = imageFolderSize(first.height, first.width);
    capped = folderSize.capped && options.resize !== 'none';
    size = capped ? [folderSize.height, folderSize.width] : [first.height, first.width];
  }
  const [height, width] = typeof size === 'number' ? [size, size] : size;
  if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) {
    throw new InvalidArgumentError(
      `${dir}: size must be positive integers, got ${JSON.stringify(options.size)}`,
    );
  }
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3) {
    throw new InvalidArgumentError(`${dir}: channels must be 1 or 3, got ${channels}`);
  }
  const resize = options.resize ?? (options.size === undefined && !capped ? 'none' : 'cover');
  let labels: Int32Array | undefined;
  let classNames: string[] | undefined;
  const rel = files.map((f) => relative(dir, f).split(sep));
  if ((options.labels ?? 'auto') === 'auto' && rel.every((parts) => parts.length > 1)) {
    classNames = [...new Set(rel.map((parts) => parts[0]!))].sort();
    labels = Int32Array.from(rel, (parts) => classNames!.indexOf(parts[0]!));
  }
  return new ImageFolderDataset(files, {
    description: dir,
    count: files.length,
    height,
    width,
    channels,
    labels,
    numClasses: classNames?.length,
    classNames,
    provenance: {
      format: 'image-folder',
      sources: [dir],
      details: {
        ...options.details,
        resize,
        kernel: options.kernel ?? 'linear',
        files: files.length,
        ...(capped ? { downscaledTo: `${height}x${width}` } : {}),
      },
    },
    decodeOptions: { resize, kernel: options.kernel ?? 'linear', channels, height, width },
    concurrency: options.concurrency ?? 4,
  });
}

interface DecodeOptions {
  resize: ResizePolicy;
  kernel: NonNullable<ImageFolderOptions['kernel']>;
  channels: 1 | 3;
  height?: number;
  width?: number;
}

/** Decodes one image file to 8-bit RGB or grey, oriented and sized as asked. */
export async function decode(
  file: string,
  o: DecodeOptions,
): Promise<{ pixels: Uint8Array; height: number; width: number }> {
  // Read the bytes ourselves: given a path, libvips may mmap and cache the file, and a file that
  // is rewritten while mapped kills the process with SIGBUS.
  const bytes = await readImageFile(file);
  await imageHeader(file, bytes);
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    let img = sharp(bytes, {
      failOn: 'error',
      limitInputPixels: IMAGE_FOLDER_LIMITS.maxPixels,
    }).rotate();
    if (o.resize !== 'none' && o.height !== undefined && o.width !== undefined) {
      img = img.resize(o.width, o.height, {
        fit: o.resize === 'cover' ? 'cover' : 'fill',
        position: 'centre',
        kernel: o.kernel,
      });
    }
    out = await img
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('srgb')
      .removeAlpha()
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new CorruptDatasetError(`${file}: cannot decode the image (${(e as Error).message})`, {
      cause: e,
    });
  }
  const { width, height, channels } = out.info;
  if (channels !== 3 || out.data.length !== width * height * 3) {
    throw new CorruptDatasetError(`${file}: decoded to ${channels} channels instead of RGB`);
  }
  if (o.height !== undefined && (height !== o.height || width !== o.width)) {
    throw new InvalidArgumentError(
      `${file} is ${height}x${width} but the dataset is ${o.height}x${o.width}; pass { size, resize: 'cover' | 'fill' } to resize images`,
    );
  }
  const rgb = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length);
  return { pixels: o.channels === 1 ? rgbToGreyBytes(rgb) : rgb, height, width };
}

async function readImageFile(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (e) {
    throw new DatasetNotFoundError(`${file}: cannot read the image (${(e as Error).message})`, {
      cause: e,
    });
  }
}

/**
 * The displayed size of an image from its header alone (EXIF rotations by 90° swap the
 * sides), refusing images over {@link IMAGE_FOLDER_LIMITS}' `maxPixels` before they are decoded.
 */
async function imageHeader(
  file: string,
  bytes: Buffer,
): Promise<{ height: number; width: number }> {
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new CorruptDatasetError(`${file}: cannot decode the image (${(e as Error).message})`, {
      cause: e,
    });
  }
  const { width = 0, height = 0 } = meta;
  checkImagePixels(file, height, width);
  const swapped = (meta.orientation ?? 1) >= 5;
  return swapped ? { height: width, width: height } : { height, width };
}

class ImageFolderDataset extends ImageDatasetBase {
  private readonly decodeOptions: DecodeOptions;
  private readonly concurrency: number;
  constructor(
    private readonly files: string[],
    info: ConstructorParameters<typeof ImageDatasetBase>[0] & {
      decodeOptions: DecodeOptions;
      concurrency: number;
    },
  ) {
    super(info);
    this.decodeOptions = info.decodeOptions;
    this.concurrency = info.concurrency;
  }

  protected async readRun(start: number, end: number, out: Uint8Array, outOffset: number) {
    let next = start;
    const worker = async () => {
      while (next < end) {
        const i = next++;
        const { pixels } = await decode(this.files[i]!, this.decodeOptions);
        out.set(pixels, outOffset + (i - start) * this.imageBytes);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, end - start) }, worker));
  }

  /** The file behind image `index`. */
  fileOf(index: number): string {
    this.checkIndex(index);
    return this.files[index]!;
  }

  async close() {}
}
