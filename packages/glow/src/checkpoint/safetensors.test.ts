import { selectBackend } from '@hierglow/backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { CheckpointCorruptError } from './errors.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  entryToTensor,
  type SafetensorsEntry,
  tensorsToEntries,
} from './safetensors.js';

beforeAll(async () => {
  await selectBackend('cpu');
});

/** Builds a safetensors file by hand from a header object and raw data bytes. */
function handBuilt(header: unknown, data: number[], pad = 0): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('writes the documented byte layout', () => {
    const bytes = encodeSafetensors(
      { a: { dtype: 'F32', shape: [2], data: new Float32Array([1, -2]) } },
      { note: 'hi' },
    );
    const view = new DataView(bytes.buffer);
    const n = Number(view.getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(headerText.trimEnd()).toBe(
      '{"__metadata__":{"note":"hi"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
    );
    expect(headerText.slice(headerText.trimEnd().length)).toMatch(/^ *$/);
    expect(bytes.length).toBe(8 + n + 8);
    // 1.0f = 0x3f800000 and -2.0f = 0xc0000000, little-endian.
    expect(Array.from(bytes.subarray(8 + n))).toEqual([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]);
  });

  it('reads a file built by hand from the format description', () => {
    const header = {
      b: { dtype: 'I32', shape: [1], data_offsets: [4, 8] },
      a: { dtype: 'F32', shape: [], data_offsets: [0, 4] },
    };
    const file = decodeSafetensors(
      handBuilt(header, [0, 0, 0x40, 0x40, 0xff, 0xff, 0xff, 0xff], 3),
    );
    expect(Array.from(file.tensors.a!.data as Float32Array)).toEqual([3]);
    expect(file.tensors.a!.shape).toEqual([]);
    expect(Array.from(file.tensors.b!.data as Int32Array)).toEqual([-1]);
    expect(file.metadata).toEqual({});
  });

  it('round-trips every dtype, aligning wider types first', () => {
    const tensors: Record<string, SafetensorsEntry> = {
      flag: { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
      f64: { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
      f32: { dtype: 'F32', shape: [2, 2], data: new Float32Array([0.5, -0.25, 1e-30, 3e38]) },
      i64: { dtype: 'I64', shape: [1], data: new BigInt64Array([-5n]) },
      i32: { dtype: 'I32', shape: [2], data: new Int32Array([2147483647, -2147483648]) },
      u8: { dtype: 'U8', shape: [1, 1], data: new Uint8Array([200]) },
      empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    };
    const file = decodeSafetensors(encodeSafetensors(tensors, { k: 'v' }));
    expect(file.metadata).toEqual({ k: 'v' });
    for (const [name, t] of Object.entries(tensors)) {
      expect(file.tensors[name]!.dtype).toBe(t.dtype);
      expect(file.tensors[name]!.shape).toEqual(t.shape);
      expect(Array.from(file.tensors[name]!.data as ArrayLike<unknown>)).toEqual(
        Array.from(t.data as ArrayLike<unknown>),
      );
    }
  });

  it('converts to and from tfjs tensors', async () => {
    const source = {
      x: tf.tensor2d([[1, 2.5]]),
      i: tf.tensor1d([7, -3], 'int32'),
      m: tf.tensor1d([true, false], 'bool'),
    };
    const entries = await tensorsToEntries(source);
    const file = decodeSafetensors(encodeSafetensors(entries));
    for (const [name, t] of Object.entries(source)) {
      const back = entryToTensor(file.tensors[name]!, name, 'test');
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(Array.from(back.dataSync())).toEqual(Array.from(t.dataSync()));
      back.dispose();
    }
    tf.dispose(Object.values(source));
  });

  const good = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['a short file', new Uint8Array(5), /too short/],
    [
      'a header length past the end',
      handBuilt(good, [0, 0, 0, 0, 0, 0, 0, 0]).subarray(0, 20),
      /runs past the end/,
    ],
    ['bad header JSON', handBuilt('x', []).map((b, i) => (i === 8 ? 0x7b : b)), /not valid JSON/],
    ['truncated data', handBuilt(good, [0, 0, 0, 0, 0]), /truncated/],
    [
      'an unknown dtype',
      handBuilt({ a: { dtype: 'F16', shape: [1], data_offsets: [0, 2] } }, [0, 0]),
      /dtype "F16"/,
    ],
    [
      'a size that disagrees with the shape',
      handBuilt({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Array(8).fill(0)),
      /needs 12/,
    ],
    [
      'a hole',
      handBuilt({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Array(8).fill(0)),
      /hole/,
    ],
    ['trailing bytes', handBuilt(good, new Array(12).fill(0)), /after the last tensor/],
    ['a non-object header', handBuilt([1, 2], []), /not a JSON object/],
  ];
  for (const [what, bytes, message] of cases) {
    it(`rejects ${what} with an error naming the file`, () => {
      expect(() => decodeSafetensors(bytes, '/ckpt/model.safetensors')).toThrow(
        CheckpointCorruptError,
      );
      expect(() => decodeSafetensors(bytes, '/ckpt/model.safetensors')).toThrow(
        new RegExp(`^/ckpt/model\\.safetensors: .*${message.source}`),
      );
    });
  }
});
