// The README's picture of the page: `hierglow serve`, Debian's Chromium, a set of sample images
// picked with the file input (out-of-distribution: real MNIST digits, noise, photo crops, a colour PNG
// and JPEG), then a screenshot of the top of the page into docs/img/browser-app.png.
//
//   npm run browser-app:build && node examples/browser-app/screenshot.mjs
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  launchChromium,
  openPage,
  pickFiles,
  REPO,
  startServe,
  writeSampleImages,
} from './tools.mjs';

const out = join(REPO, 'docs', 'img', 'browser-app.png');
const work = await mkdtemp(join(tmpdir(), 'hierglow-screenshot-'));
const server = await startServe();
const browser = await launchChromium();
try {
  const samples = await writeSampleImages(work, { fashion: 0, broken: false });
  const page = await openPage(browser, server.url, { width: 1240, height: 1050 });
  const dropped = await pickFiles(
    page,
    samples.map((s) => s.file),
  );
  await page.screenshot({ path: out });
  const { size } = await stat(out);
  console.log(
    `${out}: ${(size / 1024).toFixed(0)} KiB, ${dropped.images.length} images, AUROC ${JSON.stringify(dropped.auroc)}`,
  );
} finally {
  await browser.close();
  await server.stop();
  await rm(work, { recursive: true, force: true });
}
