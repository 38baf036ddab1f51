import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { ImageDatasetBase } from '../image-dataset.js';
import { inMemoryDataset } from '../views.js';
import { type Batch, batchIterator, evalBatches, stepsPerEpoch } from './batches.js';
import { specTransform } from './transforms.js';

/** 10 x 4x4 grey images; image i is filled with value i, label i % 3. */
function smallDataset(count = 10) {
  const pixels = new Uint8Array(count * 16);
  for (let i = 0; i < count; i++) pixels.fill(i, i * 16, (i + 1) * 16);
  return inMemoryDataset({
    pixels,
    count,
    height: 4,
    width: 4,
    channels: 1,
    labels: Int32Array.from({ length: count }, (_, i) => i % 3),
  });
}

async function collect(it: AsyncIterable<Batch>): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of it) out.push(b);
  return out;
}

describe('batchIterator', () => {
  it('shuffles per epoch, drops the last incomplete batch and covers each image once', async () => {
    const ds = smallDataset(10);
    const batches = await collect(
      batchIterator(ds, { batchSize: 3, seed: 1, epochs: 2, transform: { noise: 'none' } }),
    );
    expect(batches.length).toBe(2 * stepsPerEpoch(10, 3, true));
    expect(batches.map((b) => [b.epoch, b.step])).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 0],
      [1, 1],
      [1, 2],
    ]);
    const e0 = batches.filter((b) => b.epoch === 0).flatMap((b) => Array.from(b.indices));
    const e1 = batches.filter((b) => b.epoch === 1).flatMap((b) => Array.from(b.indices));
    expect(new Set(e0).size).toBe(9);
    expect(e0).not.toEqual(e1);
    for (const b of batches) {
      expect(b.shape).toEqual([3, 4, 4, 1]);
      b.indices.forEach((idx, k) => {
        expect(b.x[k * 16]).toBe(idx / 256 - 0.5);
        expect(b.labels![k]).toBe(idx % 3);
      });
    }
  });

  it('is reproducible and resumes mid-epoch with identical batches', async () => {
    const ds = smallDataset(50);
    const opts = {
      batchSize: 4,
      seed: 7,
      epochs: 3,
      transform: { translate: 0.25, hflip: true, noise: 'uniform' as const },
    };
    const full = await collect(batchIterator(ds, opts));
    const again = await collect(batchIterator(ds, opts));
    expect(again.map((b) => b.x)).toEqual(full.map((b) => b.x));
    const resumed = await collect(
      batchIterator(ds, { ...opts, start: { epoch: 1, step: 5 }, epochs: 2 }),
    );
    const tail = full.filter((b) => b.epoch > 1 || (b.epoch === 1 && b.step >= 5));
    expect(resumed.length).toBe(tail.length);
    resumed.forEach((b, i) => {
      expect([b.epoch, b.step]).toEqual([tail[i]!.epoch, tail[i]!.step]);
      expect(b.indices).toEqual(tail[i]!.indices);
      expect(b.x).toEqual(tail[i]!.x);
    });
    const otherSeed = await collect(batchIterator(ds, { ...opts, seed: 8 }));
    expect(otherSeed[0]!.indices).not.toEqual(full[0]!.indices);
  });

  it('keeps at most `prefetch` reads in flight and stops reading when the consumer stops', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let reads = 0;
    class SlowDataset extends ImageDatasetBase {
      protected async readRun(start: number, end: number, out: Uint8Array, off: number) {
        inFlight++;
        reads++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((r) => setTimeout(r, 2));
        out.fill(start % 256, off, off + (end - start) * 4);
        inFlight--;
      }
      async close() {}
    }
    const ds = new SlowDataset({
      description: 'slow',
      count: 1000,
      height: 2,
      width: 2,
      channels: 1,
      provenance: { format: 't', sources: [] },
    });
    let consumed = 0;
    for await (const _ of batchIterator(ds, {
      batchSize: 1,
      seed: 1,
      prefetch: 3,
      transform: { noise: 'none' },
    })) {
      if (++consumed === 10) break;
    }
    expect(maxInFlight).toBeLessThanOrEqual(3);
    expect(inFlight).toBe(0);
    expect(reads).toBeLessThanOrEqual(13);
  });

  it('propagates a read error to the consumer', async () => {
    class Broken extends ImageDatasetBase {
      protected async readRun(start: number) {
        if (start >= 4) throw new InvalidArgumentError('broken image');
      }
      async close() {}
    }
    const ds = new Broken({
      description: 'b',
      count: 20,
      height: 1,
      width: 1,
      channels: 1,
      provenance: { format: 't', sources: [] },
    });
    await expect(
      collect(
        batchIterator(ds, { batchSize: 2, seed: 1, shuffle: false, transform: { noise: 'none' } }),
      ),
    ).rejects.toThrow(/broken image/);
  });

  it('evaluation batches keep dataset order and the last partial batch', async () => {
    const ds = smallDataset(10);
    const batches = await collect(
      evalBatches(ds, { batchSize: 4, transform: { noise: 'bin-centre' } }),
    );
    expect(batches.map((b) => b.shape[0])).toEqual([4, 4, 2]);
    expect(batches.flatMap((b) => Array.from(b.indices))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(batches[2]!.x[0]).toBeCloseTo(8 / 256 - 0.5 + 1 / 512, 7);
  });

  it('evaluation batches from a later batch equal the tail of a whole pass, noise included', async () => {
    const ds = smallDataset(10);
    const transform = { noise: 'uniform' } as const;
    const whole = await collect(evalBatches(ds, { batchSize: 3, transform }));
    const tail = await collect(evalBatches(ds, { batchSize: 3, transform, firstBatch: 2 }));
    expect(tail.map((b) => b.step)).toEqual([2, 3]);
    expect(tail.map((b) => Array.from(b.indices))).toEqual([[6, 7, 8], [9]]);
    expect(tail.map((b) => Array.from(b.x))).toEqual(whole.slice(2).map((b) => Array.from(b.x)));
    // The noise depends on the batch's position: a pass that numbered these batches from 0
    // would have drawn other noise, so the check above is not vacuous.
    const noiseOf = (b: Batch) => Array.from(b.x, (v, i) => v - (b.indices[i >> 4]! / 256 - 0.5));
    expect(noiseOf(tail[0]!)).not.toEqual(noiseOf(whole[0]!));
  });

  it('applies a spec transform (MNIST-like 28x28 → 32x32)', async () => {
    const pixels = new Uint8Array(8 * 28 * 28).fill(9);
    const ds = inMemoryDataset({ pixels, count: 8, height: 28, width: 28, channels: 1 });
    const [b] = await collect(
      batchIterator(ds, {
        batchSize: 8,
        seed: 1,
        transform: specTransform('fashion-mnist', 'train'),
      }),
    );
    expect(b!.shape).toEqual([8, 32, 32, 1]);
  });

  it('rejects bad options', async () => {
    const ds = smallDataset(3);
    await expect(
      collect(batchIterator(ds, { batchSize: 4, seed: 1, transform: { noise: 'none' } })),
    ).rejects.toThrow(/3 images make no complete batch of 4/);
    await expect(
      collect(batchIterator(ds, { batchSize: 0, seed: 1, transform: { noise: 'none' } })),
    ).rejects.toSatisfy(InvalidArgumentError.isInstance);
  });
});
