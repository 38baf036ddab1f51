// Load a hierglow checkpoint two ways, from its folder and from its files' bytes, and score the
// same images with both: the bytes loader runs the same checks and gives the same model.
//
//   node examples/load-checkpoint.mjs [CHECKPOINT_DIR] [--backend wasm]
//
// Without a folder it loads the demo's Fashion-MNIST model (packages/cli/demo/models/fashion).
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { selectBackend } from '@hierglow/backend-wasm';
import { createModel, restoreModel, restoreModelFromBytes } from '@hierglow/glow';
import { createRng } from '@hierglow/random';
import * as tf from '@tensorflow/tfjs-core';

const { values, positionals } = parseArgs({
  options: { backend: { type: 'string' } },
  allowPositionals: true,
});
const here = dirname(fileURLToPath(import.meta.url));
const dir = positionals[0] ?? join(here, '..', 'packages', 'cli', 'demo', 'models', 'fashion');
await selectBackend(values.backend);

// 1. From disk: reads config.json, checks every file's size and SHA-256, rebuilds the model.
const fromDisk = await restoreModel(dir, createModel);

// 2. From bytes (what a browser fetches or an archive holds): a Map (or object) of file name to
//    bytes. Files config.json does not list (history.json, ...) are ignored.
const files = new Map();
for (const name of await readdir(dir)) files.set(name, await readFile(join(dir, name)));
const fromBytes = await restoreModelFromBytes(files, createModel, { name: 'fashion' });

const [height, width, channels] = fromDisk.model.inputShape;
console.log(`model: ${fromDisk.config.model.kind} ${height}x${width}x${channels}`);

// Eight images with pixel values v in 0..255, as the model takes them: x = v/256 - 0.5 + 1/512.
const rng = createRng(1);
const count = 8;
const pixels = Float32Array.from(
  { length: count * height * width * channels },
  () => Math.floor(rng.uniform() * 256) / 256 - 0.5 + 1 / 512,
);
const x = tf.tensor4d(pixels, [count, height, width, channels]);

// Read results with `await data()`: it does not block the page in a browser.
async function bitsPerDim(model) {
  const { logP, perScale, bitsPerDim: bpd } = model.logProb(x);
  const values = await bpd.data();
  tf.dispose([logP, bpd, ...perScale]);
  return Array.from(values);
}
const disk = await bitsPerDim(fromDisk.model);
const bytes = await bitsPerDim(fromBytes.model);
console.log(`bits/dim from disk : ${disk.map((v) => v.toFixed(4)).join(' ')}`);
console.log(`bits/dim from bytes: ${bytes.map((v) => v.toFixed(4)).join(' ')}`);
const same = disk.every((v, i) => v === bytes[i]);
console.log(`identical: ${same}`);

x.dispose();
fromDisk.model.dispose();
fromBytes.model.dispose();
if (!same) process.exit(1);
