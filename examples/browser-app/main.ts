import { backendInfo, selectBackend } from '@hierglow/backend-wasm';
import { createModel, restoreModelFromUrl } from '@hierglow/glow';
import { type ImageScore, scoreImages } from './score.js';

/**
 * The page: loads the demo's Fashion-MNIST and general Glows over HTTP (checked like the disk
 * loader), scores the bundled demo images and shows each score. `?backend=webgl` picks another
 * backend. The results also land on `window.hierglowResults` for the browser test.
 */

interface DemoSet {
  name: string;
  count: number;
  shape: [number, number, number, number];
  pixels: string;
}

interface PageResult {
  set: string;
  index: number;
  score: ImageScore;
}

declare global {
  interface Window {
    hierglowResults?: {
      backend: string;
      threads: number | null;
      simdKernels: boolean | null;
      seconds: number;
      images: PageResult[];
    };
  }
}

const status = document.querySelector<HTMLParagraphElement>('#status')!;

function bytesOf(base64: string): Uint8Array {
  const binary = atob(base64);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function thumbnail(pixels: Uint8Array, [, h, w, c]: DemoSet['shape']): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const image = new ImageData(w, h);
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) image.data[4 * p + k] = pixels[p * c + (c === 1 ? 0 : k)]!;
    image.data[4 * p + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(image, 0, 0);
  return canvas;
}

async function main(): Promise<void> {
  const here = new URL('.', location.href);
  const backend = new URLSearchParams(location.search).get('backend') ?? 'wasm';
  await selectBackend(backend, { wasmPaths: new URL('wasm/', here).href });
  const info = backendInfo();
  const [fashion, general] = await Promise.all(
    ['fashion', 'general'].map((name) =>
      restoreModelFromUrl(new URL(`models/${name}/`, here), createModel),
    ),
  );
  const demo = (await (await fetch(new URL('demo-images.json', here))).json()) as {
    sets: DemoSet[];
  };
  status.textContent = `Scoring on ${info.backend} (threads: ${info.threads ?? 'n/a'})…`;
  const rows = document.querySelector('#scores tbody')!;
  const images: PageResult[] = [];
  const started = performance.now();
  for (const set of demo.sets) {
    const pixels = bytesOf(set.pixels);
    const scores = await scoreImages(fashion!.model, general!.model, pixels, set.shape);
    const size = set.shape[1] * set.shape[2] * set.shape[3];
    scores.forEach((score, index) => {
      images.push({ set: set.name, index, score });
      const row = document.createElement('tr');
      const cell = (text: string) => {
        const td = document.createElement('td');
        td.textContent = text;
        row.append(td);
      };
      const picture = document.createElement('td');
      picture.append(thumbnail(pixels.subarray(index * size, (index + 1) * size), set.shape));
      row.append(picture);
      cell(set.name);
      cell(score.bitsPerDim.toFixed(4));
      cell(score.perScaleBitsPerDim.map((v) => v.toFixed(3)).join(' / '));
      cell(score.perScaleBitsPerDim.at(-1)!.toFixed(4));
      cell(score.generalBitsPerDim.toFixed(4));
      cell(score.likelihoodRatio.toFixed(4));
      rows.append(row);
    });
  }
  const seconds = (performance.now() - started) / 1000;
  document.querySelector<HTMLTableElement>('#scores')!.hidden = false;
  status.textContent = `${images.length} images scored on ${info.backend} (threads: ${info.threads ?? 'n/a'}) in ${seconds.toFixed(2)} s.`;
  window.hierglowResults = {
    backend: info.backend,
    threads: info.threads,
    simdKernels: info.simdKernels,
    seconds,
    images,
  };
  fashion!.model.dispose();
  general!.model.dispose();
  document.body.dataset.state = 'done';
}

main().catch((error: unknown) => {
  status.textContent = `Error: ${(error as Error).message}`;
  document.body.dataset.state = 'error';
});
