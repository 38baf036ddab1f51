// Data pipeline throughput: batches/s of 64x32x32x1 model input (spec 2 augmentation + uniform
// dequantization noise) from @hierglow/datasets, to compare with what training consumes
// (~50-400 images/s for a Glow on these machines).
//
//   npm run build -w @hierglow/datasets && node bench/data-pipeline-bench.mjs [--seconds 5]
//
// Cases: Fashion-MNIST in memory (28->32 Pillow-bilinear resize + translation), a 100 000-image
// grey .hgds file read from disk in shuffled order, the same as RGB with flips, and the on-disk
// case with a consumer that spends 20 ms per batch (does prefetching hide the reads?).
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  batchIterator,
  createRng,
  HierglowDatasetWriter,
  openDataset,
  openHierglowDataset,
  specTransform,
} from '@hierglow/datasets';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } });
const seconds = Number(values.seconds);
const BATCH = 64;

async function makeRandomFile(path, count, channels) {
  const w = await HierglowDatasetWriter.create(path, {
    count,
    height: 32,
    width: 32,
    channels,
    provenance: { format: 'bench-random', sources: [] },
  });
  const rng = createRng(1);
  const chunk = 4096;
  for (let s = 0; s < count; s += chunk) {
    const n = Math.min(chunk, count - s);
    const px = new Uint8Array(n * 1024 * channels);
    for (let i = 0; i < px.length; i++) px[i] = rng.uint32() & 255;
    await w.append(px);
  }
  await w.finish();
}

function busyWait(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

async function measure(name, dataset, transform, consumerMs = 0) {
  let batches = 0;
  let waited = 0;
  const start = performance.now();
  let t = start;
  for await (const b of batchIterator(dataset, {
    batchSize: BATCH,
    seed: 1,
    transform,
    epochs: Infinity,
    prefetch: 4,
  })) {
    const now = performance.now();
    if (batches > 0) waited += now - t; // time the consumer waited for this batch
    if (b.x.length !== BATCH * 32 * 32 * b.shape[3]) throw new Error('bad batch');
    batches++;
    if (consumerMs) busyWait(consumerMs);
    t = performance.now();
    if (t - start > seconds * 1000) break;
  }
  const elapsed = (performance.now() - start) / 1000;
  const row = {
    case: name,
    batches,
    'batches/s': Number((batches / elapsed).toFixed(1)),
    'images/s': Math.round((batches * BATCH) / elapsed),
  };
  if (consumerMs) row['wait ms/batch'] = Number((waited / Math.max(1, batches - 1)).toFixed(2));
  return row;
}

const dir = await mkdtemp(join(tmpdir(), 'hierglow-bench-'));
try {
  const rows = [];
  if (existsSync('/usr/share/datasets/fashion-mnist')) {
    const fashion = await openDataset('fashion-mnist', { split: 'train' });
    rows.push(
      await measure(
        'fashion-mnist, memory, 28->32 + translate + noise',
        fashion,
        specTransform('fashion-mnist', 'train'),
      ),
    );
    await fashion.close();
  }
  const grey = join(dir, 'grey.hgds');
  const rgb = join(dir, 'rgb.hgds');
  await makeRandomFile(grey, 100_000, 1);
  await makeRandomFile(rgb, 100_000, 3);
  const g = await openHierglowDataset(grey);
  rows.push(
    await measure(
      'grey .hgds on disk, shuffled, translate + noise',
      g,
      specTransform('tiny-grey', 'train'),
    ),
  );
  rows.push(
    await measure('  same, consumer busy 20 ms/batch', g, specTransform('tiny-grey', 'train'), 20),
  );
  await g.close();
  const c = await openHierglowDataset(rgb);
  rows.push(
    await measure(
      'RGB .hgds on disk (64x32x32x3), translate + flip + noise',
      c,
      specTransform('tiny', 'train'),
    ),
  );
  await c.close();
  console.table(rows);
  console.log(`node ${process.version}, ${seconds} s per case, batch ${BATCH}, prefetch 4`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
