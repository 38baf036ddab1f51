import { seededNormal } from '@hierglow/flow-layers/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../backend.js';
import { withFastPaths } from '../fast-paths.js';

/** Runs `f` on the cpu backend and on wasm (ours, then stock), returning the three results. */
async function onBackends(
  f: () => number[][],
): Promise<{ cpu: number[][]; ours: number[][]; stock: number[][] }> {
  await selectBackend('cpu');
  const cpu = f();
  await selectBackend('wasm');
  const ours = withFastPaths(true, f);
  const stock = withFastPaths(false, f);
  return { cpu, ours, stock };
}

const slices: Array<{ shape: number[]; begin: number[]; size: number[] }> = [
  { shape: [10], begin: [3], size: [5] },
  { shape: [6, 7], begin: [1, 2], size: [4, 3] }, // short rows
  { shape: [6, 40], begin: [2, 5], size: [3, 30] }, // long rows
  { shape: [4, 5, 6], begin: [0, 1, 0], size: [4, 3, 6] },
  { shape: [3, 4, 5, 6], begin: [1, 0, 2, 1], size: [2, 4, 2, 4] },
  { shape: [2, 3, 4, 5, 2], begin: [0, 1, 1, 0, 1], size: [2, 2, 3, 5, 1] }, // rank 5
  { shape: [4, 5], begin: [1, 0], size: [2, 5] }, // contiguous block
];

describe('wasm kernel replacements (Identity, Slice, SplitV, Reverse)', () => {
  for (const [shape, axes] of [
    [[7], [0]],
    [
      [3, 3, 5, 4],
      [0, 1],
    ], // a conv filter flipped for the input gradient
    [[3, 3, 5, 4], [3]], // innermost axis: element by element
    [
      [2, 3, 4],
      [0, 2],
    ],
    [
      [1, 1, 6, 6],
      [0, 1],
    ],
    [[4, 1, 5], [1]],
  ] as const) {
    it(`reverse [${shape}] along [${axes}] equals the cpu and stock wasm kernels`, async () => {
      const { cpu, ours, stock } = await onBackends(() =>
        tf.tidy(() => [Array.from(tf.reverse(seededNormal([...shape], 3), [...axes]).dataSync())]),
      );
      expect(ours).toEqual(cpu);
      expect(stock).toEqual(cpu);
    });
  }

  for (const { shape, begin, size } of slices) {
    it(`slice [${shape}] at [${begin}] size [${size}] equals the cpu and stock wasm kernels`, async () => {
      const { cpu, ours, stock } = await onBackends(() =>
        tf.tidy(() => [Array.from(tf.slice(seededNormal(shape, 1), begin, size).dataSync())]),
      );
      expect(ours).toEqual(cpu);
      expect(stock).toEqual(cpu);
    });
  }

  for (const [shape, sizes, axis] of [
    [[300], [1, 17, 200, 82], 0],
    [[5, 6, 4], [2, 3, 1], 1],
    [[3, 4, 6], [1, 2, 3], 2],
  ] as const) {
    it(`split [${shape}] into [${sizes}] along ${axis} equals the cpu and stock wasm kernels`, async () => {
      const { cpu, ours, stock } = await onBackends(() =>
        tf.tidy(() =>
          tf
            .split(seededNormal([...shape], 2), [...sizes], axis)
            .map((t) => Array.from(t.dataSync())),
        ),
      );
      expect(ours).toEqual(cpu);
      expect(stock).toEqual(cpu);
    });
  }

  it('clone shares the data (no copy), and the data lives until the last reference goes', async () => {
    await selectBackend('wasm');
    const backend = tf.backend() as unknown as { numDataIds(): number };
    const x = seededNormal([50, 20], 3);
    const expected = Array.from(x.dataSync());
    for (const fast of [true, false]) {
      const before = backend.numDataIds();
      const copy = withFastPaths(fast, () => tf.clone(x));
      // A shared clone adds no data buffer; the stock kernel allocates one.
      expect(backend.numDataIds() - before).toBe(fast ? 0 : 1);
      expect(Array.from(copy.dataSync())).toEqual(expected);
      copy.dispose();
      expect(backend.numDataIds()).toBe(before);
    }
    const shared = tf.clone(x);
    x.dispose();
    expect(Array.from(shared.dataSync())).toEqual(expected);
    const before = backend.numDataIds();
    shared.dispose();
    expect(backend.numDataIds()).toBe(before - 1);
  });

  it('gradients through saved (cloned) tensors are unchanged', async () => {
    const f = () =>
      tf.tidy(() => {
        const x = seededNormal([4, 6], 5);
        const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.exp(v), tf.sigmoid(v))))(x);
        return [Array.from(g.dataSync())];
      });
    const { ours, stock } = await onBackends(f);
    expect(ours).toEqual(stock);
  });

  const pairs: Array<[number[], number[]]> = [
    [
      [4, 5],
      [4, 5],
    ],
    [[3, 3, 2, 6], [6]],
    [[6], [3, 3, 2, 6]],
    [[2, 7], []],
    [[], [7, 2]],
    [
      [3, 1, 4],
      [1, 5, 1],
    ],
    [
      [5, 1],
      [1, 4],
    ],
    [
      [1, 4],
      [3, 1],
    ],
    [[200, 100], [100]], // above the small-tensor bound: stock kernel
  ];
  for (const [aShape, bShape] of pairs) {
    it(`Multiply, Add, Sub, RealDiv, Neg, Abs of [${aShape}] and [${bShape}] are bit-identical to the stock kernels`, async () => {
      const special = [
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        Number.NaN,
        0,
        -0,
        1e-40,
      ];
      const withSpecials = (shape: number[], seed: number) =>
        tf.tidy(() => {
          const values = seededNormal(shape, seed).dataSync() as Float32Array;
          special.forEach((v, i) => {
            if (i < values.length) values[(i * 7) % values.length] = v;
          });
          return tf.tensor(values, shape);
        });
      const { cpu, ours, stock } = await onBackends(() =>
        tf.tidy(() => {
          const a = withSpecials(aShape, 11);
          const b = withSpecials(bShape, 12);
          return [tf.mul(a, b), tf.add(a, b), tf.sub(a, b), tf.div(a, b), tf.neg(a), tf.abs(b)].map(
            (t) => Array.from(t.dataSync()),
          );
        }),
      );
      expect(ours).toEqual(stock);
      expect(ours).toEqual(cpu);
    });
  }
});

describe('tiny BatchMatMul in JavaScript', () => {
  for (const [aShape, bShape, transposeA, transposeB] of [
    [[4, 4], [4, 4], false, false],
    [[16, 16], [16, 16], false, false],
    [[16, 16], [16, 16], true, false],
    [[16, 16], [16, 16], false, true],
    [[5, 7], [5, 3], true, false],
    [[1, 8, 8], [1, 8, 8], false, false],
    [[6, 3], [4, 3], false, true],
    [[40, 64], [64, 16], false, false], // above the size bound: stock kernel
  ] as const) {
    it(`[${aShape}]${transposeA ? 'ᵀ' : ''} @ [${bShape}]${transposeB ? 'ᵀ' : ''} is bit-identical to the stock kernel`, async () => {
      const { cpu, ours, stock } = await onBackends(() =>
        tf.tidy(() => [
          Array.from(
            tf
              .matMul(
                seededNormal([...aShape], 5),
                seededNormal([...bShape], 6),
                transposeA,
                transposeB,
              )
              .dataSync(),
          ),
        ]),
      );
      expect(ours).toEqual(stock);
      expect(ours[0]!.length).toBe(cpu[0]!.length);
    });
  }
});
