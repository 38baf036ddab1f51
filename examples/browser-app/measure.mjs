// Measures the page: images/s scoring dropped files on wasm with one thread, wasm threaded
// (served cross-origin isolated by `hierglow serve`) and webgl (Chromium's software GL on a
// machine without a GPU), each the median of 3 fresh pages; and the sizes of the built page.
// Prints a Markdown table for examples/browser-app/README.md.
//
//   npm run browser-app:build && node examples/browser-app/measure.mjs [--images 256] [--repeats 3]
//
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
    repeats: { type: 'string', default: '3' },
  },
});
const IMAGES = Number(values.images);
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
  add('JavaScript (assets/*.js)', inDir('assets', '.js'));
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
  for (const [label, query] of [
    ['wasm, 1 thread', '?threads=1'],
    ['wasm, threaded (cross-origin isolated)', ''],
    ['webgl (SwiftShader)', '?backend=webgl'],
  ]) {
    const runs = [];
    let info;
    for (let r = 0; r < REPEATS; r++) {
      const page = await openPage(browser, `${server.url}${query}`);
      info = await page.textContent('#backend-info');
      await pickFiles(page, files);
      const timed = await pickFiles(page, files);
      runs.push({
        scoring: files.length / timed.seconds,
        decode: files.length / timed.decodeSeconds,
      });
      await page.close();
    }
    results.push({
      label,
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
console.log('| backend | images/s (median) | runs | decode + preprocess, images/s | page says |');
console.log('| --- | --- | --- | --- | --- |');
for (const r of results) {
  console.log(
    `| ${r.label} | ${r.scoring.toFixed(0)} | ${r.runs.map((x) => x.scoring.toFixed(0)).join(', ')} | ${r.decode.toFixed(0)} | ${r.info} |`,
  );
}
console.log('\nBuilt page (gzip -9 sizes for what a compressing server would send):\n');
console.log('| files | count | bytes | gzipped |');
console.log('| --- | --- | --- | --- |');
for (const s of sizes()) console.log(`| ${s.label} | ${s.count} | ${kib(s.raw)} | ${kib(s.gz)} |`);
