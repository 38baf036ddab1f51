import { InvalidImageError } from '../errors.js';
import { zlibCompressLikeLibpng } from './zlib-deflate.js';

/** Size and channel count of one 8-bit image, pixels interleaved row by row (HWC). */
export interface ImageSize {
  height: number;
  width: number;
  /** 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA. */
  channels: number;
}

/** PNG colour type per channel count (8 bits per sample). */
const COLOR_TYPE: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 };
const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
/** libpng writes IDAT chunks of at most this many bytes (PNG_ZBUF_SIZE). */
const IDAT_CHUNK = 8192;

/**
 * Encodes one 8-bit image as a PNG file: IHDR, IDAT chunks and IEND, nothing else (no gamma or
 * colour chunks, like OpenCV). Rows are filtered with libpng's default heuristic (per row, the
 * filter among None/Sub/Up/Average/Paeth whose output bytes, read as signed, have the smallest
 * sum of absolute values; ties go to the earlier filter) and compressed at level 9 with a deflate
 * that reproduces reference zlib (see zlib-deflate.ts), in IDAT chunks of 8192 bytes as libpng
 * writes them. The result is byte-identical to OpenCV's `imencode('.png', img,
 * [IMWRITE_PNG_COMPRESSION, 9])` for the same channel bytes (OpenCV writes a 3- or 4-channel
 * array in reversed channel order: see `pngComplexityBitsPerDim`'s `channelOrder`).
 * Channel bytes are written in the order given.
 *
 * @example
 * const png = encodePng(new Uint8Array(32 * 32 * 3), { height: 32, width: 32, channels: 3 });
 * png.length; // 82: an all-black image is mostly PNG overhead
 */
export function encodePng(pixels: ArrayLike<number>, size: ImageSize): Uint8Array {
  const { height, width, channels } = size;
  checkImage(pixels, size);
  const filtered = filterRows(pixels, height, width * channels, channels);
  const compressed = zlibCompressLikeLibpng(filtered);
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = COLOR_TYPE[channels]!;
  // compression method 0, filter method 0, no interlace: bytes 10..12 stay 0
  const chunks: Uint8Array[] = [SIGNATURE, chunk('IHDR', ihdr)];
  for (let at = 0; at < compressed.length; at += IDAT_CHUNK) {
    chunks.push(
      chunk('IDAT', compressed.subarray(at, Math.min(at + IDAT_CHUNK, compressed.length))),
    );
  }
  chunks.push(chunk('IEND', new Uint8Array(0)));
  const file = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    file.set(c, offset);
    offset += c.length;
  }
  return file;
}

function checkImage(pixels: ArrayLike<number>, { height, width, channels }: ImageSize): void {
  for (const [name, v] of [
    ['height', height],
    ['width', width],
  ] as const) {
    if (!(Number.isInteger(v) && v > 0 && v < 2 ** 31)) {
      throw new InvalidImageError(`${name} must be a positive integer, got ${v}.`);
    }
  }
  if (COLOR_TYPE[channels] === undefined) {
    throw new InvalidImageError(`channels must be 1, 2, 3 or 4, got ${channels}.`);
  }
  const expected = height * width * channels;
  if (pixels.length !== expected) {
    throw new InvalidImageError(
      `expected ${height}x${width}x${channels} = ${expected} values (HWC, row by row), got ${pixels.length}.`,
    );
  }
  if (!(pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray)) {
    for (let i = 0; i < expected; i++) {
      const v = pixels[i] as number;
      if (!(Number.isInteger(v) && v >= 0 && v <= 255)) {
        throw new InvalidImageError(
          `pixel value ${v} at index ${i} is not an integer in [0, 255]. Pass 8-bit values v; ` +
            'model inputs x = v / 256 - 0.5 convert back with v = round((x + 0.5) * 256).',
        );
      }
    }
  }
}

/** Filtered scanlines, each prefixed with its filter type byte. */
function filterRows(
  pixels: ArrayLike<number>,
  height: number,
  rowBytes: number,
  bpp: number,
): Uint8Array {
  const out = new Uint8Array(height * (rowBytes + 1));
  const zeros = new Uint8Array(rowBytes);
  const candidates = [0, 1, 2, 3, 4]; // None, Sub, Up, Average, Paeth
  const trial = candidates.map(() => new Uint8Array(rowBytes));
  let prior: Uint8Array = zeros; // the row above the first row is all zeros
  for (let y = 0; y < height; y++) {
    const row = Uint8Array.from({ length: rowBytes }, (_, i) => pixels[y * rowBytes + i] as number);
    let best = 0;
    let bestSum = Number.POSITIVE_INFINITY;
    for (let c = 0; c < candidates.length; c++) {
      const sum = applyFilter(candidates[c]!, row, prior, bpp, trial[c]!);
      if (sum < bestSum) {
        bestSum = sum;
        best = c;
      }
    }
    const base = y * (rowBytes + 1);
    out[base] = candidates[best]!;
    out.set(trial[best]!, base + 1);
    prior = row;
  }
  return out;
}

/** Writes filter `type` of `row` into `dest`; returns the sum of |signed byte| of the result. */
function applyFilter(
  type: number,
  row: Uint8Array,
  prior: Uint8Array,
  bpp: number,
  dest: Uint8Array,
): number {
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    const x = row[i]!;
    const a = i >= bpp ? row[i - bpp]! : 0; // left
    const b = prior[i]!; // up
    const c = i >= bpp ? prior[i - bpp]! : 0; // up-left
    let predictor: number;
    if (type === 0) predictor = 0;
    else if (type === 1) predictor = a;
    else if (type === 2) predictor = b;
    else if (type === 3) predictor = (a + b) >>> 1;
    else predictor = paeth(a, b, c);
    const v = (x - predictor) & 0xff;
    dest[i] = v;
    sum += v < 128 ? v : 256 - v;
  }
  return sum;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (ISO 3309, as PNG requires), table-driven. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
