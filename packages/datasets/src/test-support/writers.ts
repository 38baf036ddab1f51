import { gzipSync } from 'node:zlib';
import { createRng } from '@hierglow/random';

/** Encodes an IDX file: `0 0 type ndim`, big-endian int32 dims, then the data. */
export function encodeIdx(dims: number[], data: Uint8Array, typeCode = 0x08): Uint8Array {
  const head = new Uint8Array(4 + 4 * dims.length);
  head[2] = typeCode;
  head[3] = dims.length;
  const v = new DataView(head.buffer);
  for (let i = 0; i < dims.length; i++) v.setUint32(4 + 4 * i, dims[i]!, false);
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

/** gzip, as the MNIST files are distributed. */
export function gzip(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(bytes));
}

/** Deterministic pseudo-random bytes. */
export function randomBytes(n: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.uint32() & 0xff;
  return b;
}

/** Deterministic labels in [0, classes). */
export function randomLabels(n: number, classes: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(classes);
  return b;
}
