import { deflateSync } from 'node:zlib';

/** A variable for {@link encodeMat}: uint8 or double data in column-major order. */
export interface MatTestVariable {
  name: string;
  dims: number[];
  data: Uint8Array | Float64Array;
  /** Store double data as miUINT8, as MATLAB does for small integers. */
  storeDoubleAsUint8?: boolean;
}

/** A minimal Level 5 MAT-file writer for tests (little- or big-endian, optionally compressed). */
export function encodeMat(
  vars: MatTestVariable[],
  opts: { compress?: boolean; bigEndian?: boolean } = {},
): Uint8Array {
  const le = !opts.bigEndian;
  const header = new Uint8Array(128).fill(0x20);
  header.set(new TextEncoder().encode('MATLAB 5.0 MAT-file, written by hierglow tests'));
  const hv = new DataView(header.buffer);
  hv.setUint16(124, 0x0100, le);
  header[126] = le ? 0x49 : 0x4d; // 'I','M' little-endian; 'M','I' big-endian
  header[127] = le ? 0x4d : 0x49;
  const parts: Uint8Array[] = [header];
  for (const v of vars) {
    const matrix = element(14, matrixBody(v, le), le);
    parts.push(opts.compress ? element(15, deflateSync(matrix), le, false) : matrix);
  }
  return concat(parts);
}

function matrixBody(v: MatTestVariable, le: boolean): Uint8Array {
  const isDouble = v.data instanceof Float64Array;
  const flags = new Uint8Array(8);
  new DataView(flags.buffer).setUint32(0, isDouble ? 6 : 9, le);
  const dims = new Uint8Array(4 * v.dims.length);
  const dv = new DataView(dims.buffer);
  v.dims.forEach((d, i) => {
    dv.setInt32(4 * i, d, le);
  });
  let real: Uint8Array;
  let type: number;
  if (!isDouble || v.storeDoubleAsUint8) {
    real = Uint8Array.from(v.data);
    type = 2;
  } else {
    real = new Uint8Array(v.data.length * 8);
    const rv = new DataView(real.buffer);
    v.data.forEach((x, i) => {
      rv.setFloat64(8 * i, x, le);
    });
    type = 9;
  }
  return concat([
    element(6, flags, le),
    element(5, dims, le),
    element(1, new TextEncoder().encode(v.name), le),
    element(type, real, le),
  ]);
}

function element(type: number, data: Uint8Array, le: boolean, pad = true): Uint8Array {
  const size = pad ? Math.ceil(data.length / 8) * 8 : data.length;
  const out = new Uint8Array(8 + size);
  const v = new DataView(out.buffer);
  v.setUint32(0, type, le);
  v.setUint32(4, data.length, le);
  out.set(data, 8);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
