import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { selectBackend } from '@hierglow/backend-wasm';
import { createModel, restoreModel } from '@hierglow/glow';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ImageScore, scoreImages } from '../browser-app/score.js';

/**
 * The browser page (examples/browser-app), built with Vite and opened in Debian's Chromium
 * through playwright-core (no browser download; `.ci/run` installs the `chromium` package):
 * it loads the demo Glows over HTTP, scores the bundled demo images, and its numbers match the
 * same scoring under Node on wasm.
 */

const here = dirname(fileURLToPath(import.meta.url));
const app = join(here, '..', 'browser-app');
const repo = join(here, '..', '..');
const CHROMIUM = process.env.HIERGLOW_CHROMIUM ?? '/usr/bin/chromium';
/** Largest bits/dim difference allowed between the page on wasm and Node on wasm. */
const WASM_TOLERANCE = 1e-4;
/** The same on webgl: float32 shaders on Chromium's software GL (SwiftShader). */
const WEBGL_TOLERANCE = 1e-3;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** A static server for dist/; `isolated` adds the headers that allow wasm threads. */
function serve(root: string, isolated: boolean): Promise<Server> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname));
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    const headers: Record<string, string> = {
      'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    };
    if (isolated) {
      headers['cross-origin-opener-policy'] = 'same-origin';
      headers['cross-origin-embedder-policy'] = 'require-corp';
    }
    res.writeHead(200, headers).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

interface PageResults {
  backend: string;
  threads: number | null;
  simdKernels: boolean | null;
  seconds: number;
  images: { set: string; index: number; score: ImageScore }[];
}

let browser: Browser;
const servers: Server[] = [];
let reference: Map<string, ImageScore>;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set HIERGLOW_CHROMIUM`,
    );
  }
  execFileSync(process.execPath, [join(app, 'prepare-assets.mjs')], { stdio: 'pipe' });
  execFileSync(
    process.execPath,
    [join(repo, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', app, '--logLevel', 'warn'],
    {
      stdio: 'pipe',
    },
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Software GL for the webgl test: the CI machine has no GPU.
    args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });

  // The same images scored under Node on wasm, from the checkpoint directories.
  await selectBackend('wasm');
  const demo = join(repo, 'packages', 'cli', 'demo', 'models');
  const fashion = await restoreModel(join(demo, 'fashion'), createModel);
  const general = await restoreModel(join(demo, 'general'), createModel);
  const { sets } = JSON.parse(readFileSync(join(app, 'public', 'demo-images.json'), 'utf8')) as {
    sets: { name: string; shape: [number, number, number, number]; pixels: string }[];
  };
  reference = new Map();
  for (const set of sets) {
    const pixels = new Uint8Array(Buffer.from(set.pixels, 'base64'));
    const scores = await scoreImages(fashion.model, general.model, pixels, set.shape);
    for (const [i, score] of scores.entries()) reference.set(`${set.name}/${i}`, score);
  }
  fashion.model.dispose();
  general.model.dispose();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  for (const server of servers) server.close();
});

async function openPage(isolated: boolean, query = ''): Promise<PageResults> {
  const server = await serve(join(app, 'dist'), isolated);
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/${query}`);
  await page.waitForSelector('body[data-state="done"], body[data-state="error"]', {
    timeout: 240_000,
  });
  const status = await page.textContent('#status');
  expect(await page.getAttribute('body', 'data-state'), `${status} ${errors.join('; ')}`).toBe(
    'done',
  );
  const results = (await page.evaluate('window.hierglowResults')) as PageResults;
  await page.close();
  return results;
}

function expectClose(results: PageResults, tolerance: number): void {
  expect(results.images.length).toBe(reference.size);
  let largest = 0;
  for (const { set, index, score } of results.images) {
    const want = reference.get(`${set}/${index}`)!;
    largest = Math.max(
      largest,
      Math.abs(score.bitsPerDim - want.bitsPerDim),
      Math.abs(score.generalBitsPerDim - want.generalBitsPerDim),
    );
  }
  console.log(
    `${results.backend} (threads ${results.threads}): largest bits/dim gap to Node ${largest.toExponential(2)}`,
  );
  for (const { set, index, score } of results.images) {
    const want = reference.get(`${set}/${index}`)!;
    const where = `${set}/${index}`;
    expect(Math.abs(score.bitsPerDim - want.bitsPerDim), where).toBeLessThan(tolerance);
    expect(Math.abs(score.generalBitsPerDim - want.generalBitsPerDim), where).toBeLessThan(
      tolerance,
    );
    for (const [k, v] of score.perScaleBitsPerDim.entries()) {
      const gap = Math.abs(v - want.perScaleBitsPerDim[k]!);
      expect(gap, `${where} scale ${k}`).toBeLessThan(tolerance);
    }
  }
}

describe('the browser page in Chromium', () => {
  it('scores the demo images on wasm (one thread) as Node does', async () => {
    const results = await openPage(false);
    expect(results.backend).toBe('wasm');
    expect(results.threads).toBe(1);
    // hierglow's own SIMD kernels load in the page (no Node Buffer on that path).
    expect(results.simdKernels).toBe(true);
    expectClose(results, WASM_TOLERANCE);
    // In-distribution images get a higher likelihood ratio than noise.
    const ratio = (set: string) =>
      results.images.filter((r) => r.set === set).map((r) => r.score.likelihoodRatio);
    expect(Math.min(...ratio('fashion-mnist'))).toBeGreaterThan(Math.max(...ratio('noise')));
  });

  it('uses wasm threads on a cross-origin isolated page, with the same numbers', async () => {
    const results = await openPage(true);
    expect(results.backend).toBe('wasm');
    expect(results.threads).toBeGreaterThan(1);
    expect(results.simdKernels).toBe(true);
    expectClose(results, WASM_TOLERANCE);
  });

  it('scores on webgl (Chromium software GL) within the stated tolerance', async () => {
    const results = await openPage(false, '?backend=webgl');
    expect(results.backend).toBe('webgl');
    expectClose(results, WEBGL_TOLERANCE);
  });
});
