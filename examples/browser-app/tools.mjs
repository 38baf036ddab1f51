// Node-side helpers shared by the browser test (examples/test/browser-app.test.ts), the
// measurements (measure.mjs) and the screenshot (screenshot.mjs): sample image files to drop,
// `hierglow serve` on a free port, Debian's Chromium through playwright-core, the page driven to
// a result.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDataset } from '@hierglow/datasets';
import { chromium } from 'playwright-core';
import sharp from 'sharp';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = join(here, '..', '..');
export const CLI = join(REPO, 'packages', 'cli', 'dist', 'bin.js');
/** Where `vite build examples/browser-app` writes the page (vite.config.ts). */
export const PAGE_DIR = join(REPO, 'packages', 'cli', 'browser-app');
export const CHROMIUM = process.env.HIERGLOW_CHROMIUM ?? '/usr/bin/chromium';

/** Builds the page as `npm run browser-app:build` does, minus the package builds. */
export async function buildPage() {
  const { execFileSync } = await import('node:child_process');
  execFileSync(process.execPath, [join(here, 'prepare-assets.mjs')], { stdio: 'pipe' });
  execFileSync(
    process.execPath,
    [join(REPO, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', here, '--logLevel', 'warn'],
    { stdio: 'pipe' },
  );
}

async function png(file, pixels, height, width, channels) {
  await writeFile(
    file,
    await sharp(Buffer.from(pixels), { raw: { width, height, channels } }).png().toBuffer(),
  );
}

/**
 * Image files a user might drop, each in a folder with the others of its size (the CLI scores a
 * folder of images of one size): Fashion-MNIST test images (28x28 grey PNG, in-distribution),
 * the demo's real MNIST digits and noise (28x28) and photo crops (32x32), a colour PNG (48x64) and a
 * colour JPEG (30x40), which go through the RGB → grey conversion, a translucent PNG and one over
 * the 256 px cap; `broken` adds a file that is no image. Returns `{ name, file, folder }` per file.
 */
export async function writeSampleImages(dir, { fashion = 4, broken = true } = {}) {
  const out = [];
  const add = async (folder, name, write) => {
    await mkdir(join(dir, folder), { recursive: true });
    const file = join(dir, folder, name);
    await write(file);
    out.push({ name, file, folder: join(dir, folder) });
  };
  const test = await openDataset('fashion-mnist', { split: 'test' });
  // The last test images: a fixed choice, independent of the reference's seeded subset.
  const batch = await test.slice(test.count - fashion, test.count);
  await test.close();
  for (let i = 0; i < fashion; i++) {
    await add('28x28', `fashion-${i}.png`, (f) =>
      png(f, batch.pixels.subarray(i * 784, (i + 1) * 784), 28, 28, 1),
    );
  }
  const demo = join(REPO, 'packages', 'cli', 'demo', 'data');
  for (const [set, folder, count] of [
    ['mnist', '28x28', 2],
    ['noise', '28x28', 1],
    ['photos', '32x32', 2],
  ]) {
    const ds = await openDataset(join(demo, `${set}.hgds`));
    const b = await ds.slice(0, count);
    await ds.close();
    const size = b.height * b.width * b.channels;
    for (let i = 0; i < count; i++) {
      await add(folder, `${set}-${i}.png`, (f) =>
        png(f, b.pixels.subarray(i * size, (i + 1) * size), b.height, b.width, b.channels),
      );
    }
  }
  const colour = (height, width) => {
    const rgb = new Uint8Array(height * width * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const p = 3 * (y * width + x);
        rgb[p] = (255 * x) / (width - 1);
        rgb[p + 1] = (255 * y) / (height - 1);
        rgb[p + 2] = (x * 37 + y * 91) % 256;
      }
    }
    return rgb;
  };
  await add('48x64', 'colour.png', (f) => png(f, colour(48, 64), 48, 64, 3));
  await add('30x40', 'colour.jpg', async (f) =>
    writeFile(
      f,
      await sharp(Buffer.from(colour(30, 40)), { raw: { width: 40, height: 30, channels: 3 } })
        .jpeg({ quality: 90 })
        .toBuffer(),
    ),
  );
  // Two files the page preprocesses only nearly as the CLI does (README: known differences):
  // translucent pixels (through the canvas's premultiplied storage) and an image over the 256 px
  // cap (shrunk with Pillow's bilinear here, libvips' linear kernel there).
  const translucent = new Uint8Array(24 * 20 * 4);
  for (let p = 0; p < 24 * 20; p++) {
    translucent.set([(p * 7) % 256, (p * 13) % 256, (p * 29) % 256, (p * 11) % 256], 4 * p);
  }
  await add('24x20', 'translucent.png', (f) => png(f, translucent, 24, 20, 4));
  await add('300x520', 'large.png', (f) => {
    const rgb = colour(300, 520);
    return png(f, rgb, 300, 520, 3);
  });
  if (broken) {
    await mkdir(join(dir, 'broken'), { recursive: true });
    const file = join(dir, 'broken', 'broken.png');
    await writeFile(file, 'this is not a PNG');
    out.push({ name: 'broken.png', file, folder: null });
  }
  return out;
}

/** `hierglow serve --port 0 [...args]`, until `stop()`; resolves with the printed URL. */
export async function startServe(args = []) {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const url = await new Promise((found, fail) => {
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /^(http:\/\/\S+\/)$/m.exec(stdout);
      if (m) found(m[1]);
    });
    child.on('exit', (code) => fail(new Error(`hierglow serve exited with ${code}: ${stderr}`)));
  });
  const stop = () =>
    new Promise((done) => {
      if (child.exitCode !== null) return done();
      child.once('exit', () => done());
      child.kill('SIGINT');
    });
  return { url, stop };
}

/** Debian's Chromium (no browser download) with software GL for webgl on machines without a GPU. */
export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) or set HIERGLOW_CHROMIUM`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
}

/** Opens the page and waits until it has scored the demo images; throws with its status else. */
export async function openPage(browser, url, viewport) {
  const page = await browser.newPage(viewport ? { viewport } : {});
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-state="done"], body[data-state="error"]', {
    timeout: 240_000,
  });
  if ((await page.getAttribute('body', 'data-state')) !== 'done') {
    throw new Error(`the page failed: ${await page.textContent('#status')} ${errors.join('; ')}`);
  }
  return page;
}

/** Picks `files` with the page's file input and waits for its results (`window.hierglowDropped`). */
export async function pickFiles(page, files) {
  const run = await page.evaluate(() => window.hierglowDropped?.run ?? 0);
  // Chromium fires no change event when the same files are picked again; emptying the input
  // first makes a repeated pick a change (the page ignores the empty one).
  await page.setInputFiles('#files', []);
  await page.setInputFiles('#files', files);
  await page.waitForFunction(
    (previous) =>
      document.body.dataset.dropped === 'error' ||
      ((window.hierglowDropped?.run ?? 0) > previous && document.body.dataset.dropped === 'done'),
    run,
    { timeout: 240_000 },
  );
  if ((await page.getAttribute('body', 'data-dropped')) !== 'done') {
    throw new Error(`scoring the files failed: ${await page.textContent('#status')}`);
  }
  return page.evaluate(() => window.hierglowDropped);
}
