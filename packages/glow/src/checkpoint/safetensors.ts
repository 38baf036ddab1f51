import * as tf from '@tensorflow/tfjs-core';
import { CheckpointCorruptError } from './errors.js';

/**
 * The safetensors format (https://huggingface.co/docs/safetensors), written and read in plain
 * TypeScript:
 *
 *   [8 bytes: header length N, unsigned little-endian]
 *   [N bytes: UTF-8 JSON header, right-padded with spaces so the data starts 8-byte aligned]
 *   [data: every tensor's bytes, little-endian, row-major, back to back]
 *
 * The header maps each tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (offsets
 * relative to the start of the data) and may hold `__metadata__`, a string-to-string map.
 * The data must be covered exactly: no holes, no overlaps, no trailing bytes.
 */

/** Element types this module reads and writes. */
export type SafetensorsDtype = 'F64' | 'F32' | 'I64' | 'I32' | 'U8' | 'BOOL';

type TypedArray = Float64Array | Float32Array | BigInt64Array | Int32Array | Uint8Array;

/** One tensor in a safetensors file: row-major values of `shape`. */
export interface SafetensorsEntry {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TypedArray;
}

/** A decoded safetensors file. */
export interface SafetensorsFile {
  tensors: Record<string, SafetensorsEntry>;
  metadata: Record<string, string>;
}

const ITEM_SIZE: Record<SafetensorsDtype, number> = {
  F64: 8,
  F32: 4,
  I64: 8,
  I32: 4,
  U8: 1,
  BOOL: 1,
};

/** Largest header accepted, as in the reference implementation: guards against garbage lengths. */
const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = '__metadata__';

function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Encodes tensors (and optional string metadata) as the bytes of a safetensors file. Tensors
 * are laid out by decreasing item size, then by name, so every tensor starts aligned to its
 * item size.
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsEntry>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = Object.keys(tensors).sort((a, b) => {
    const d = ITEM_SIZE[tensors[b]!.dtype] - ITEM_SIZE[tensors[a]!.dtype];
    return d !== 0 ? d : a < b ? -1 : a > b ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string')
        throw new TypeError(`safetensors metadata '${k}' must be a string`);
    }
    header[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) throw new TypeError(`'${METADATA_KEY}' cannot be a tensor name`);
    const { dtype, shape, data } = tensors[name]!;
    const bytes = numel(shape) * ITEM_SIZE[dtype];
    if (data.byteLength !== bytes) {
      throw new TypeError(
        `safetensors tensor '${name}': ${data.byteLength} bytes of data for ${dtype} shape [${shape}] (needs ${bytes})`,
      );
    }
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil((8 + json.length) / 8) * 8 - 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  const dataStart = 8 + headerLength;
  for (const name of names) {
    const { data } = tensors[name]!;
    const [begin] = (header[name] as { data_offsets: [number, number] }).data_offsets;
    out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), dataStart + begin);
  }
  return out;
}

/**
 * Decodes the bytes of a safetensors file. Every malformation (short file, header length past
 * the end, bad JSON, unknown dtype, a size that disagrees with the shape, data past the end of
 * the file, holes or overlaps) raises a {@link CheckpointCorruptError} naming `source`.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsFile {
  const corrupt = (what: string) => new CheckpointCorruptError(`${source}: ${what}`);
  if (bytes.length < 8) {
    throw corrupt(`only ${bytes.length} bytes, too short for a safetensors file (truncated?)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) {
    throw corrupt(
      `header length ${headerLength} runs past the end of the file (${bytes.length} bytes): truncated or not a safetensors file`,
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES))
    throw corrupt(`header length ${headerLength} is implausibly large`);
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (cause) {
    throw new CheckpointCorruptError(
      `${source}: the header is not valid JSON (${(cause as Error).message})`,
      {
        cause,
      },
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw corrupt('the header is not a JSON object');
  }
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: Record<string, SafetensorsEntry> = {};
  const spans: Array<[number, number, string]> = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof info !== 'object' || info === null)
        throw corrupt(`'${METADATA_KEY}' is not an object`);
      for (const [k, v] of Object.entries(info)) {
        if (typeof v !== 'string') throw corrupt(`metadata '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (info ?? {}) as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in ITEM_SIZE)) {
      throw corrupt(
        `tensor '${name}' has dtype ${JSON.stringify(dtype)}; supported: ${Object.keys(ITEM_SIZE).join(', ')}`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw corrupt(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[1] < offsets[0]
    ) {
      throw corrupt(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    const dt = dtype as SafetensorsDtype;
    const expected = numel(shape) * ITEM_SIZE[dt];
    if (end - begin !== expected) {
      throw corrupt(
        `tensor '${name}' spans ${end - begin} bytes, but ${dt} [${shape}] needs ${expected}`,
      );
    }
    if (end > dataLength) {
      throw corrupt(
        `tensor '${name}' ends at data byte ${end}, but the file holds only ${dataLength} data bytes: the file is truncated`,
      );
    }
    spans.push([begin, end, name]);
    tensors[name] = {
      dtype: dt,
      shape: [...shape],
      data: copyOut(bytes, dataStart + begin, dt, numel(shape)),
    };
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let covered = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== covered) {
      throw corrupt(
        begin < covered
          ? `tensor '${name}' overlaps the previous tensor`
          : `a hole of ${begin - covered} bytes before tensor '${name}'`,
      );
    }
    covered = end;
  }
  if (covered !== dataLength) {
    throw corrupt(
      `${dataLength - covered} bytes after the last tensor: the file is not a valid safetensors file`,
    );
  }
  return { tensors, metadata };
}

/** Copies little-endian values into a fresh, aligned typed array (the file data need not be aligned). */
function copyOut(
  bytes: Uint8Array,
  start: number,
  dtype: SafetensorsDtype,
  count: number,
): TypedArray {
  const size = ITEM_SIZE[dtype];
  // Copy into a new buffer: a Node Buffer's slice() is a view into a shared pool, not a copy.
  const copy = new Uint8Array(count * size);
  copy.set(bytes.subarray(start, start + count * size));
  const raw = copy.buffer;
  switch (dtype) {
    case 'F64':
      return new Float64Array(raw);
    case 'F32':
      return new Float32Array(raw);
    case 'I64':
      return new BigInt64Array(raw);
    case 'I32':
      return new Int32Array(raw);
    default:
      return new Uint8Array(raw);
  }
}

/**
 * The values of tfjs tensors as safetensors entries (float32 → F32, int32 → I32, bool → BOOL).
 * Reads the data asynchronously; the tensors stay owned by the caller.
 */
export async function tensorsToEntries(
  tensors: Record<string, tf.Tensor>,
): Promise<Record<string, SafetensorsEntry>> {
  const out: Record<string, SafetensorsEntry> = {};
  for (const [name, t] of Object.entries(tensors)) {
    const values = await t.data();
    if (t.dtype === 'float32')
      out[name] = { dtype: 'F32', shape: [...t.shape], data: values as Float32Array };
    else if (t.dtype === 'int32')
      out[name] = { dtype: 'I32', shape: [...t.shape], data: values as Int32Array };
    else if (t.dtype === 'bool')
      out[name] = {
        dtype: 'BOOL',
        shape: [...t.shape],
        data: Uint8Array.from(values as Uint8Array),
      };
    else
      throw new TypeError(
        `tensor '${name}' has dtype ${t.dtype}, which safetensors export does not support`,
      );
  }
  return out;
}

/**
 * A tfjs tensor from a safetensors entry: F32 → float32, I32 and U8 → int32, BOOL → bool, F64 →
 * float32 (tfjs has no float64), I64 → int32 when every value fits (else an error naming `source`).
 */
export function entryToTensor(entry: SafetensorsEntry, name: string, source: string): tf.Tensor {
  const { dtype, shape, data } = entry;
  switch (dtype) {
    case 'F32':
      return tf.tensor(data as Float32Array, shape, 'float32');
    case 'F64':
      return tf.tensor(Float32Array.from(data as Float64Array), shape, 'float32');
    case 'I32':
      return tf.tensor(data as Int32Array, shape, 'int32');
    case 'U8':
      return tf.tensor(Int32Array.from(data as Uint8Array), shape, 'int32');
    case 'BOOL':
      return tf.tensor(data as Uint8Array, shape, 'bool');
    case 'I64': {
      const out = new Int32Array(data.length);
      (data as BigInt64Array).forEach((v, i) => {
        if (v > 2147483647n || v < -2147483648n) {
          throw new CheckpointCorruptError(
            `${source}: tensor '${name}' holds an I64 value outside the int32 range`,
          );
        }
        out[i] = Number(v);
      });
      return tf.tensor(out, shape, 'int32');
    }
  }
}
