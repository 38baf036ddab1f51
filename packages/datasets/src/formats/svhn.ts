import { CorruptDatasetError } from '../errors.js';
import type { ImageDataset } from '../image-dataset.js';
import { columnMajorDecoder, RecordDataset } from '../record-dataset.js';
import type { RecordStore } from '../record-store.js';
import {
  elementCount,
  type MatVariable,
  MI_UINT8,
  readMatFile,
  readMatNumeric,
} from './matlab-v5.js';

/**
 * SVHN cropped digits (`train_32x32.mat`, `test_32x32.mat`, `extra_32x32.mat`): MATLAB v5 files
 * with `X`, uint8 of shape 32x32x3xN (column-major, so pixel (y, x, c) of image n is at
 * `y + 32·(x + 32·(c + 3·n))`), and `y`, N labels 1..10 where 10 stands for the digit 0.
 */

/** Options of {@link openSvhnMat}. */
export interface SvhnOptions {
  details?: Record<string, unknown>;
}

/** Opens an SVHN-style `.mat` file; labels are mapped to 0-9 (10 → 0). */
export async function openSvhnMat(path: string, options: SvhnOptions = {}): Promise<ImageDataset> {
  const mat = await readMatFile(path);
  try {
    const names = mat.variables.map((v) => v.name);
    const X = mat.variables.find((v) => v.name === 'X');
    const y = mat.variables.find((v) => v.name === 'y');
    if (!X) {
      throw new CorruptDatasetError(
        `${path}: no variable 'X' (found ${names.join(', ') || 'none'}); an SVHN file holds X (32x32x3xN uint8) and y`,
      );
    }
    const [height, width, channels, count] = checkImageArray(path, X);
    let labels: Int32Array | undefined;
    if (y) {
      const raw = await readMatNumeric(y);
      if (raw.length !== count) {
        throw new CorruptDatasetError(
          `${path}: 'y' has ${raw.length} labels but 'X' has ${count} images`,
        );
      }
      labels = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const l = raw[i]!;
        if (!Number.isInteger(l) || l < 0 || l > 10) {
          throw new CorruptDatasetError(
            `${path}: label ${l} of image ${i} is not a digit class 1..10 (10 = digit 0)`,
          );
        }
        labels[i] = l % 10;
      }
    }
    // Closing the dataset closes the file and releases any inflated variables.
    const keep: RecordStore = X.store;
    return new RecordDataset(
      {
        description: path,
        count,
        height,
        width,
        channels,
        labels,
        numClasses: labels ? 10 : undefined,
        classNames: labels ? ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] : undefined,
        provenance: {
          format: 'svhn-mat',
          sources: [path],
          details: { ...options.details, labelTenMeansZero: true },
        },
      },
      {
        path: keep.path,
        size: keep.size,
        read: (...a) => keep.read(...a),
        close: () => mat.close(),
      },
      {
        offset: X.dataOffset,
        stride: height * width * channels,
        pixelOffset: 0,
        decode: columnMajorDecoder(height, width, channels),
      },
    );
  } catch (e) {
    await mat.close();
    throw e;
  }
}

function checkImageArray(path: string, X: MatVariable): [number, number, number, number] {
  if (X.className !== 'uint8' || X.dataType !== MI_UINT8 || X.complex) {
    throw new CorruptDatasetError(
      `${path}: 'X' is a ${X.complex ? 'complex ' : ''}${X.className} array; SVHN images must be real uint8`,
    );
  }
  const dims = X.dims.length === 3 ? [X.dims[0]!, X.dims[1]!, 1, X.dims[2]!] : X.dims;
  if (dims.length !== 4 || dims.slice(0, 3).some((d) => d === 0)) {
    throw new CorruptDatasetError(
      `${path}: 'X' has shape ${X.dims.join('x')}; expected height x width x channels x N`,
    );
  }
  if (X.dataBytes !== elementCount(X)) {
    throw new CorruptDatasetError(
      `${path}: 'X' stores ${X.dataBytes} bytes for ${X.dims.join('x')} pixels`,
    );
  }
  return dims as [number, number, number, number];
}
