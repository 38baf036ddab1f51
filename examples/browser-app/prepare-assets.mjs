// Copies what the page loads at run time into browser-app/public/ (generated, not committed):
// the demo's Fashion-MNIST and general Glow checkpoints (the files their config.json lists),
// tfjs-backend-wasm's .wasm binaries, and the first images of each bundled demo set, resized
// to the models' 32×32 as the CLI does (Pillow's bilinear).
//
//   node examples/browser-app/prepare-assets.mjs
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDataset, resizeBilinearPil } from '@hierglow/datasets';

const here = dirname(fileURLToPath(import.meta.url));
const demo = join(here, '..', '..', 'packages', 'cli', 'demo');
const out = join(here, 'public');
rmSync(out, { recursive: true, force: true });

/** The demo models the page scores with: in-distribution and general (for the ratio). */
const MODELS = ['fashion', 'general'];
/** Demo sets and how many images of each the page offers. */
const DEMO_SETS = ['fashion-mnist', 'mnist', 'photos', 'noise', 'constant'];
const IMAGES_PER_SET = 4;
/** The models' input size. */
const SIZE = 32;

for (const name of MODELS) {
  const from = join(demo, 'models', name);
  const to = join(out, 'models', name);
  mkdirSync(to, { recursive: true });
  const config = JSON.parse(readFileSync(join(from, 'config.json'), 'utf8'));
  for (const file of ['config.json', ...Object.keys(config.files)])
    copyFileSync(join(from, file), join(to, file));
}

const require = createRequire(import.meta.url);
const wasmDist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
mkdirSync(join(out, 'wasm'), { recursive: true });
for (const file of [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
])
  copyFileSync(join(wasmDist, 'dist', file), join(out, 'wasm', file));

const sets = [];
for (const name of DEMO_SETS) {
  const ds = await openDataset(join(demo, 'data', `${name}.hgds`));
  const batch = await ds.slice(0, Math.min(IMAGES_PER_SET, ds.count));
  await ds.close();
  const { count, height, width, channels } = batch;
  const plane = height * width * channels;
  const pixels = new Uint8Array(count * SIZE * SIZE * channels);
  for (let i = 0; i < count; i++) {
    const image = batch.pixels.subarray(i * plane, (i + 1) * plane);
    const resized = pixels.subarray(i * SIZE * SIZE * channels, (i + 1) * SIZE * SIZE * channels);
    if (height === SIZE && width === SIZE) resized.set(image);
    else resizeBilinearPil(image, height, width, channels, SIZE, SIZE, resized);
  }
  sets.push({
    name,
    count,
    shape: [count, SIZE, SIZE, channels],
    pixels: Buffer.from(pixels).toString('base64'),
  });
}
writeFileSync(join(out, 'demo-images.json'), `${JSON.stringify({ sets })}\n`);
console.log(`browser-app assets in ${out}`);
