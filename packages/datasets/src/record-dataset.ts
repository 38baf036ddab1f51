import { type DatasetShapeInfo, ImageDatasetBase } from './image-dataset.js';
import type { RecordStore } from './record-store.js';

/**
 * Converts one stored record's pixel bytes (starting at `srcOffset`) into NHWC bytes at
 * `dstOffset`. Formats that store planes (CIFAR) or column-major arrays (SVHN, Tiny Images)
 * supply one; NHWC formats need none.
 */
export type RecordDecoder = (
  src: Uint8Array,
  srcOffset: number,
  dst: Uint8Array,
  dstOffset: number,
) => void;

/** Where the records sit in a {@link RecordStore}. */
export interface RecordLayout {
  /** Byte offset of record 0. */
  offset: number;
  /** Bytes from one record to the next (pixels plus any interleaved label bytes). */
  stride: number;
  /** Offset of the pixel bytes inside a record. */
  pixelOffset: number;
  /** Converts stored pixels to NHWC; omitted when they are NHWC already. */
  decode?: RecordDecoder;
}

/** A dataset of fixed-size records in a file or in memory. */
export class RecordDataset extends ImageDatasetBase {
  constructor(
    info: DatasetShapeInfo,
    private readonly store: RecordStore,
    private readonly layout: RecordLayout,
  ) {
    super(info);
  }

  protected async readRun(start: number, end: number, out: Uint8Array, outOffset: number) {
    const { offset, stride, pixelOffset, decode } = this.layout;
    const bytes = this.imageBytes;
    const n = end - start;
    if (!decode && stride === bytes && pixelOffset === 0) {
      await this.store.read(offset + start * stride, n * bytes, out, outOffset);
      return;
    }
    const raw = new Uint8Array(n * stride);
    await this.store.read(offset + start * stride, n * stride, raw, 0);
    for (let i = 0; i < n; i++) {
      const src = i * stride + pixelOffset;
      const dst = outOffset + i * bytes;
      if (decode) decode(raw, src, out, dst);
      else out.set(raw.subarray(src, src + bytes), dst);
    }
  }

  async close() {
    await this.store.close();
  }
}

/**
 * Decoder for column-major (Fortran order) records of shape (height, width, channels), as in
 * MATLAB arrays: element (y, x, c) is at `y + height·(x + width·c)`.
 */
export function columnMajorDecoder(height: number, width: number, channels: number): RecordDecoder {
  return (src, srcOffset, dst, dstOffset) => {
    let d = dstOffset;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < channels; c++) {
          dst[d++] = src[srcOffset + y + height * (x + width * c)]!;
        }
      }
    }
  };
}

/** Decoder for planar (CHW) records, as in the CIFAR binaries: (c, y, x) at `(c·H + y)·W + x`. */
export function planarDecoder(height: number, width: number, channels: number): RecordDecoder {
  const plane = height * width;
  return (src, srcOffset, dst, dstOffset) => {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < channels; c++)
        dst[dstOffset + p * channels + c] = src[srcOffset + c * plane + p]!;
    }
  };
}

/** Decoder that transposes each channel (EMNIST stores images transposed). */
export function transposedDecoder(height: number, width: number, channels: number): RecordDecoder {
  return (src, srcOffset, dst, dstOffset) => {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < channels; c++) {
          dst[dstOffset + (y * width + x) * channels + c] =
            src[srcOffset + (x * height + y) * channels + c]!;
        }
      }
    }
  };
}
