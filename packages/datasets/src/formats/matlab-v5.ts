import { CorruptDatasetError } from '../errors.js';
import { FileRecordStore, MemoryRecordStore, type RecordStore } from '../record-store.js';
import { inflateZlib } from './file-bytes.js';

/**
 * The subset of the MATLAB Level 5 MAT-file format needed for numeric arrays such as SVHN's
 * `X`/`y` (MathWorks, "MAT-File Format", R2024a): a 128-byte header ending in the endian
 * indicator, then data elements with an 8-byte tag (type, byte count) or the 4-byte "small"
 * tag, padded to 8 bytes. `miCOMPRESSED` elements hold one zlib-compressed element; `miMATRIX`
 * elements hold array flags, dimensions, a name and the real part. Cells, structs, sparse,
 * complex and character arrays are listed but their data cannot be read.
 */

const MI = {
  INT8: 1,
  UINT8: 2,
  INT16: 3,
  UINT16: 4,
  INT32: 5,
  UINT32: 6,
  SINGLE: 7,
  DOUBLE: 9,
  INT64: 12,
  UINT64: 13,
  MATRIX: 14,
  COMPRESSED: 15,
} as const;

const MI_BYTES: Record<number, number> = {
  1: 1,
  2: 1,
  3: 2,
  4: 2,
  5: 4,
  6: 4,
  7: 4,
  9: 8,
  12: 8,
  13: 8,
};

/** MATLAB array classes by code (mxDOUBLE_CLASS = 6, ...). */
export const MAT_CLASS_NAMES: Record<number, string> = {
  1: 'cell',
  2: 'struct',
  3: 'object',
  4: 'char',
  5: 'sparse',
  6: 'double',
  7: 'single',
  8: 'int8',
  9: 'uint8',
  10: 'int16',
  11: 'uint16',
  12: 'int32',
  13: 'uint32',
  14: 'int64',
  15: 'uint64',
};

/** A top-level variable of a MAT-file. */
export interface MatVariable {
  name: string;
  /** MATLAB class name ('uint8', 'double', ..., 'cell'). */
  className: string;
  /** Dimensions, MATLAB (column-major) order. */
  dims: number[];
  complex: boolean;
  /** Storage type of the real part (miUINT8 = 2, miDOUBLE = 9, ...), or 0 when there is none. */
  dataType: number;
  /** Where the real part's bytes are. */
  store: RecordStore;
  dataOffset: number;
  dataBytes: number;
  littleEndian: boolean;
}

/** A parsed MAT-file: its variables, and the stores to close when done. */
export interface MatFile {
  path: string;
  variables: MatVariable[];
  close(): Promise<void>;
}

/** True when the bytes start like a Level 5 MAT-file header. */
export function looksLikeMatV5(head: Uint8Array): boolean {
  return head.length >= 6 && new TextDecoder('latin1').decode(head.subarray(0, 6)) === 'MATLAB';
}

/** Parses the variable directory of a Level 5 MAT-file (compressed variables are inflated). */
export async function readMatFile(path: string): Promise<MatFile> {
  const file = await FileRecordStore.open(path);
  const stores: RecordStore[] = [file];
  const close = async () => {
    await Promise.all(stores.map((s) => s.close()));
  };
  try {
    if (file.size < 128) {
      throw new CorruptDatasetError(
        `${path}: ${file.size} bytes is too short for a MAT-file (the header alone is 128)`,
      );
    }
    const header = new Uint8Array(128);
    await file.read(0, 128, header, 0);
    if (!looksLikeMatV5(header)) {
      throw new CorruptDatasetError(`${path}: does not start with "MATLAB"; it is not a MAT-file`);
    }
    const indicator = String.fromCharCode(header[126]!, header[127]!);
    if (indicator !== 'IM' && indicator !== 'MI') {
      throw new CorruptDatasetError(
        `${path}: endian indicator "${indicator}" is neither IM nor MI; this is not a Level 5 MAT-file (v7.3 files are HDF5: re-save with -v7)`,
      );
    }
    const le = indicator === 'IM';
    const variables: MatVariable[] = [];
    let pos = 128;
    while (pos + 8 <= file.size) {
      const tag = await readTag(file, pos, file.size, le);
      if (tag.type === MI.COMPRESSED) {
        const packed = new Uint8Array(tag.nbytes);
        await file.read(tag.dataStart, tag.nbytes, packed, 0);
        const inflated = new MemoryRecordStore(
          path,
          await inflateZlib(`${path} (compressed variable at byte ${pos})`, packed),
        );
        stores.push(inflated);
        const inner = await readTag(inflated, 0, inflated.size, le);
        if (inner.type === MI.MATRIX) {
          const v = await parseMatrix(inflated, inner.dataStart, inner.nbytes, le);
          if (v) variables.push(v);
        }
        pos = tag.dataStart + tag.nbytes;
      } else {
        if (tag.type === MI.MATRIX) {
          const v = await parseMatrix(file, tag.dataStart, tag.nbytes, le);
          if (v) variables.push(v);
        }
        pos = tag.next;
      }
    }
    return { path, variables, close };
  } catch (e) {
    await close();
    throw e;
  }
}

interface Tag {
  type: number;
  nbytes: number;
  dataStart: number;
  /** Position of the next element (after padding). */
  next: number;
}

async function readTag(store: RecordStore, pos: number, end: number, le: boolean): Promise<Tag> {
  if (pos + 8 > end) {
    throw new CorruptDatasetError(
      `${store.path}: a MAT data element starts at byte ${pos} but the data ends at ${end}; the file is truncated`,
    );
  }
  const b = new Uint8Array(8);
  await store.read(pos, 8, b, 0);
  const v = new DataView(b.buffer);
  const first = v.getUint32(0, le);
  // Small data element: byte count in the upper 16 bits, data in the tag's second half.
  const small = first >>> 16;
  if (small !== 0) {
    if (small > 4) {
      throw new CorruptDatasetError(
        `${store.path}: small MAT data element at byte ${pos} claims ${small} bytes (at most 4)`,
      );
    }
    return { type: first & 0xffff, nbytes: small, dataStart: pos + 4, next: pos + 8 };
  }
  const nbytes = v.getUint32(4, le);
  if (pos + 8 + nbytes > end) {
    throw new CorruptDatasetError(
      `${store.path}: MAT data element at byte ${pos} declares ${nbytes} bytes but only ${end - pos - 8} remain; the file is truncated`,
    );
  }
  return {
    type: first,
    nbytes,
    dataStart: pos + 8,
    next: Math.min(end, pos + 8 + Math.ceil(nbytes / 8) * 8),
  };
}

async function parseMatrix(
  store: RecordStore,
  start: number,
  nbytes: number,
  le: boolean,
): Promise<MatVariable | null> {
  if (nbytes === 0) return null; // an empty array
  const end = start + nbytes;
  const where = `${store.path}: MAT array at byte ${start}`;
  const flagsTag = await readTag(store, start, end, le);
  if (flagsTag.type !== MI.UINT32 || flagsTag.nbytes !== 8) {
    throw new CorruptDatasetError(`${where}: array flags are missing`);
  }
  const flags = await readBytes(store, flagsTag.dataStart, 8);
  const flagWord = new DataView(flags.buffer).getUint32(0, le);
  const classId = flagWord & 0xff;
  const className = MAT_CLASS_NAMES[classId];
  if (!className) throw new CorruptDatasetError(`${where}: unknown array class ${classId}`);
  const dimsTag = await readTag(store, flagsTag.next, end, le);
  if (dimsTag.type !== MI.INT32 || dimsTag.nbytes % 4 !== 0 || dimsTag.nbytes < 8) {
    throw new CorruptDatasetError(`${where}: dimensions are missing`);
  }
  const dimBytes = await readBytes(store, dimsTag.dataStart, dimsTag.nbytes);
  const dv = new DataView(dimBytes.buffer);
  const dims: number[] = [];
  for (let i = 0; i < dimsTag.nbytes / 4; i++) {
    const d = dv.getInt32(4 * i, le);
    if (d < 0) throw new CorruptDatasetError(`${where}: negative dimension ${d}`);
    dims.push(d);
  }
  const nameTag = await readTag(store, dimsTag.next, end, le);
  if (nameTag.type !== MI.INT8 && nameTag.type !== MI.UINT8) {
    throw new CorruptDatasetError(`${where}: array name is missing`);
  }
  const name = new TextDecoder('latin1').decode(
    await readBytes(store, nameTag.dataStart, nameTag.nbytes),
  );
  const base = {
    name,
    className,
    dims,
    complex: (flagWord & 0x800) !== 0,
    store,
    littleEndian: le,
  };
  if (classId < 6 || nameTag.next >= end) {
    return { ...base, dataType: 0, dataOffset: 0, dataBytes: 0 };
  }
  const realTag = await readTag(store, nameTag.next, end, le);
  return {
    ...base,
    dataType: realTag.type,
    dataOffset: realTag.dataStart,
    dataBytes: realTag.nbytes,
  };
}

async function readBytes(store: RecordStore, pos: number, n: number): Promise<Uint8Array> {
  const b = new Uint8Array(n);
  await store.read(pos, n, b, 0);
  return b;
}

/** Number of elements of a variable (product of its dimensions). */
export function elementCount(v: MatVariable): number {
  return v.dims.reduce((a, b) => a * b, 1);
}

/**
 * Reads a real numeric variable as float64 values in column-major order, whatever the storage
 * type (MATLAB stores e.g. double arrays of small integers as miUINT8).
 */
export async function readMatNumeric(v: MatVariable): Promise<Float64Array> {
  const where = `${v.store.path}: variable '${v.name}'`;
  const size = MI_BYTES[v.dataType];
  if (size === undefined || v.complex) {
    throw new CorruptDatasetError(
      `${where} is a ${v.complex ? 'complex ' : ''}${v.className} array without readable numeric data`,
    );
  }
  const n = elementCount(v);
  if (v.dataBytes !== n * size) {
    throw new CorruptDatasetError(
      `${where} has ${v.dataBytes} data bytes for ${v.dims.join('x')} elements of ${size} bytes`,
    );
  }
  const raw = await readBytes(v.store, v.dataOffset, v.dataBytes);
  const dv = new DataView(raw.buffer);
  const out = new Float64Array(n);
  const le = v.littleEndian;
  for (let i = 0; i < n; i++) {
    const o = i * size;
    switch (v.dataType) {
      case MI.INT8:
        out[i] = dv.getInt8(o);
        break;
      case MI.UINT8:
        out[i] = raw[o]!;
        break;
      case MI.INT16:
        out[i] = dv.getInt16(o, le);
        break;
      case MI.UINT16:
        out[i] = dv.getUint16(o, le);
        break;
      case MI.INT32:
        out[i] = dv.getInt32(o, le);
        break;
      case MI.UINT32:
        out[i] = dv.getUint32(o, le);
        break;
      case MI.SINGLE:
        out[i] = dv.getFloat32(o, le);
        break;
      case MI.DOUBLE:
        out[i] = dv.getFloat64(o, le);
        break;
      case MI.INT64:
        out[i] = Number(dv.getBigInt64(o, le));
        break;
      default:
        out[i] = Number(dv.getBigUint64(o, le));
    }
  }
  return out;
}

/** The storage type code for unsigned bytes, for callers that read uint8 data in place. */
export const MI_UINT8 = MI.UINT8;
