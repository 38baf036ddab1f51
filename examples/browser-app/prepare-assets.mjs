// Writes what the page loads at run time into browser-app/public/ (generated, not committed):
// the demo's Fashion-MNIST and general Glow checkpoints (the files their config.json lists),
// tfjs-backend-wasm's .wasm binaries, the first images of each bundled demo set, resized to the
// models' 32×32 as the CLI does (Pillow's bilinear), and the in-distribution reference scores:
// `hierglow score` (the built CLI) on a seeded subset of 1,000 Fashion-MNIST test images
// (Debian's dataset-fashion-mnist), in the page's units.
//
//   node examples/browser-app/prepare-assets.mjs      (after npm run build)
import { execFileSync } from 'node:child_process';
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
/** The in-distribution reference: `hierglow score --data` and `--limit` (a seeded subset). */
const REFERENCE_DATA = 'fashion-mnist';
const REFERENCE_COUNT = 1000;

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

// The reference scores come from the CLI itself, so that the page is compared with exactly what
// `hierglow score` reports (its --limit subset is seeded: the same images every time).
const cli = join(here, '..', '..', 'packages', 'cli', 'dist', 'bin.js');
const scoresFile = join(out, 'reference-scores.cli.json');
const args = [
  'score',
  '--model',
  join(demo, 'models', 'fashion'),
  '--general',
  join(demo, 'models', 'general'),
  '--data',
  REFERENCE_DATA,
  '--limit',
  String(REFERENCE_COUNT),
  '--out',
  scoresFile,
];
try {
  execFileSync(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
} catch (e) {
  const why = String(e.stderr ?? e.message)
    .trim()
    .split('\n')
    .at(-1);
  console.error(`prepare-assets: the reference scores failed (hierglow ${args.join(' ')}): ${why}`);
  process.exit(1);
}
const rows = JSON.parse(readFileSync(scoresFile, 'utf8'));
rmSync(scoresFile);
const shaOf = (name) =>
  JSON.parse(readFileSync(join(demo, 'models', name, 'config.json'), 'utf8')).files[
    'model.safetensors'
  ].sha256;
const fashionConfig = JSON.parse(
  readFileSync(join(demo, 'models', 'fashion', 'config.json'), 'utf8'),
);
const { height, width, channels } = fashionConfig.model;
// The CLI's log-densities are nats per image; the page shows bits per dimension.
const bits = Math.LN2 * height * width * channels;
const reference = {
  description: `a seeded subset of the test split, scored by the Node CLI`,
  command: `hierglow score --model demo/models/fashion --general demo/models/general --data ${REFERENCE_DATA} --limit ${REFERENCE_COUNT}`,
  dataset: `${REFERENCE_DATA}@test`,
  count: rows.length,
  models: { fashion: shaOf('fashion'), general: shaOf('general') },
  scores: {
    bitsPerDim: rows.map((r) => r.bpd),
    finalScaleBitsPerDim: rows.map((r) => -r.final_scale / bits),
    likelihoodRatio: rows.map((r) => r.ratio / bits),
  },
};
for (const [kind, values] of Object.entries(reference.scores)) {
  if (values.length !== REFERENCE_COUNT || !values.every(Number.isFinite)) {
    console.error(
      `prepare-assets: ${kind} of the reference scores is not ${REFERENCE_COUNT} finite numbers`,
    );
    process.exit(1);
  }
}
writeFileSync(join(out, 'reference-scores.json'), `${JSON.stringify(reference)}\n`);
console.log(`browser-app assets in ${out}`);
