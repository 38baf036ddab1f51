// Measures the page: images/s scoring dropped files on wasm with one thread, wasm threaded
// (served cross-origin isolated by `hierglow serve`) and webgl (Chromium's software GL on a
// machine without a GPU), each the median of 3 fresh pages; and the sizes of the built page.
// Prints a Markdown table for examples/browser-app/README.md.
//
//   npm run browser-app:build && node examples/browser-app/measure.mjs [--images 256]
//       [--webgl-images 64] [--repeats 3]
//
// webgl gets fewer images: on SwiftShader (CPU) it is two orders of magnitude slower.
// Each page scores the set twice and the second pass is timed: the first compiles webgl's
// shaders and warms the wasm kernels for the batch shapes. Scoring time is the page's own
// (window.hierglowDropped.seconds: both models, batches of 64); decoding and preprocessing the
// files is timed separately (decodeSeconds).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { gzipSync } from 'node:zlib';
import {
  launchChromium,
  openPage,
  PAGE_DIR,
  pickFiles,
  startServe,
  writeSampleImages,
} from './tools.mjs';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '256' },
    'webgl-images': { type: 'string', default: '64' },
    repeats: { type: 'string', default: '3' },
  },
});
const IMAGES = Number(values.images);
const WEBGL_IMAGES = Number(values['webgl-images']);
const REPEATS = Number(values.repeats);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kib = (bytes) => `${(bytes / 1024).toFixed(0)} KiB`;

function sizes() {
  const rows = [];
  const add = (label, files) => {
    let raw = 0;
    let gz = 0;
    for (const f of files) {
      const bytes = readFileSync(f);
      raw += bytes.length;
      gz += gzipSync(bytes, { level: 9 }).length;
    }
    rows.push({ label, count: files.length, raw, gz });
  };
  const inDir = (dir, ext) =>
    readdirSync(join(PAGE_DIR, dir))
      .filter((f) => f.endsWith(ext))
      .map((f) => join(PAGE_DIR, dir, f));
  const scripts = inDir('assets', '.js');
  for (const f of scripts) {
    const text = readFileSync(f, 'utf8');
    // Vite names lazy chunks after their package's dist/ folder; say which backend each one is.
    const what = f.includes('/index-')
      ? 'entry'
      : text.includes('WebGPU')
        ? 'lazy: webgpu backend'
        : text.includes('webgl')
          ? 'lazy: webgl backend'
          : 'lazy chunk';
    add(`assets/${f.split('/').at(-1)} (${what})`, [f]);
  }
  add('JavaScript, all (assets/*.js)', scripts);
  for (const f of inDir('wasm', '.wasm')) add(`wasm/${f.split('/').at(-1)}`, [f]);
  const models = ['fashion', 'general'].flatMap((m) =>
    readdirSync(join(PAGE_DIR, 'models', m)).map((f) => join(PAGE_DIR, 'models', m, f)),
  );
  add('models (2 checkpoints)', models);
  add('reference-scores.json + demo-images.json', [
    join(PAGE_DIR, 'reference-scores.json'),
    join(PAGE_DIR, 'demo-images.json'),
  ]);
  const all = [];
  const walk = (d) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else all.push(p);
    }
  };
  walk(PAGE_DIR);
  add('the whole page', all);
  return rows;
}

const load = () => execFileSync('uptime', { encoding: 'utf8' }).trim();
const work = await mkdtemp(join(tmpdir(), 'hierglow-measure-'));
const server = await startServe();
const browser = await launchChromium();
const results = [];
const loads = [load()];
try {
  const files = (await writeSampleImages(work, { fashion: IMAGES, broken: false }))
    .filter((s) => s.name.startsWith('fashion-'))
    .map((s) => s.file);
  for (const [label, query, count] of [
    ['wasm, 1 thread', '?threads=1', IMAGES],
    ['wasm, threaded (cross-origin isolated)', '', IMAGES],
    ['webgl (SwiftShader)', '?backend=webgl', WEBGL_IMAGES],
  ]) {
    const set = files.slice(0, count);
    const runs = [];
    let info;
    for (let r = 0; r < REPEATS; r++) {
      const page = await openPage(browser, `${server.url}${query}`);
      info = await page.textContent('#backend-info');
      await pickFiles(page, set);
      const timed = await pickFiles(page, set);
      runs.push({ scoring: set.length / timed.seconds, decode: set.length / timed.decodeSeconds });
      await page.close();
    }
    results.push({
      label,
      count: set.length,
      info,
      runs,
      scoring: median(runs.map((r) => r.scoring)),
      decode: median(runs.map((r) => r.decode)),
    });
    loads.push(load());
  }
} finally {
  await browser.close();
  await server.stop();
  await rm(work, { recursive: true, force: true });
}

console.log(`Load: ${loads.join(' | ')}\n`);
console.log(
  `Scoring ${IMAGES} Fashion-MNIST test PNGs (28x28) with both Glows, median of ${REPEATS} pages:\n`,
);
console.log(
  '| backend | images | images/s (median) | runs | decode + preprocess, images/s | page says |',
);
console.log('| --- | --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(
    `| ${r.label} | ${r.count} | ${r.scoring.toFixed(1)} | ${r.runs.map((x) => x.scoring.toFixed(1)).join(', ')} | ${r.decode.toFixed(0)} | ${r.info} |`,
  );
}
console.log('\nBuilt page (gzip -9 sizes for what a compressing server would send):\n');
console.log('| files | count | bytes | gzipped |');
console.log('| --- | --- | --- | --- |');
for (const s of sizes()) console.log(`| ${s.label} | ${s.count} | ${kib(s.raw)} | ${kib(s.gz)} |`);
