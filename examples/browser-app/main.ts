import { backendInfo, selectBackend } from '@hierglow/backend-wasm';
import {
  bytesModelInput,
  checkImagePixels,
  imageFileModelInput,
  type ModelImageShape,
  rgbaOnBlack,
} from '@hierglow/datasets';
import { type AnyModel, createModel, restoreModelFromUrl } from '@hierglow/glow';
import { distributionPlot } from './plot.js';
import { type ImageScore, scoreInputs } from './score.js';
import { aurocTable, type ReferenceScores } from './score-kinds.js';

/**
 * The page: loads the demo's Fashion-MNIST and general Glows over HTTP (checked like the disk
 * loader) and the in-distribution reference scores, scores the bundled demo images, then any
 * images the user drops or picks, preprocessed as `hierglow score` preprocesses image files.
 * `?backend=webgl|webgpu` picks another backend, `?threads=N` the wasm threads. Results also
 * land on `window.hierglowResults` (demo images) and `window.hierglowDropped` (the last set
 * dropped) for the browser test and the measurements.
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

interface DroppedResults {
  /** How many sets were dropped so far, this one included. */
  run: number;
  /** Seconds spent decoding and preprocessing the files, and scoring them. */
  decodeSeconds: number;
  seconds: number;
  images: { name: string; score: ImageScore }[];
  /** One line per file that could not be scored, naming it. */
  errors: string[];
  /** AUROC of the reference against this set for each score kind; null under two images. */
  auroc: Record<string, number> | null;
}

declare global {
  interface Window {
    hierglowResults?: {
      backend: string;
      threads: number | null;
      crossOriginIsolated: boolean;
      simdKernels: boolean | null;
      seconds: number;
      images: PageResult[];
    };
    hierglowDropped?: DroppedResults;
  }
}

/** Images per call of the models: bounds the memory of a large drop. */
const CHUNK = 64;

const $ = <T extends Element>(selector: string) => document.querySelector<T>(selector)!;
const status = $<HTMLParagraphElement>('#status');

function bytesOf(base64: string): Uint8Array {
  const binary = atob(base64);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

/** What the model sees (its input values back as 8-bit levels), grey or RGB. */
function thumbnail(values: Float32Array, { height, width, channels }: ModelImageShape) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const image = new ImageData(width, height);
  for (let p = 0; p < height * width; p++) {
    for (let k = 0; k < 3; k++) {
      const x = values[p * channels + (channels === 1 ? 0 : k)]!;
      image.data[4 * p + k] = Math.round((x + 0.5 - 1 / 512) * 256);
    }
    image.data[4 * p + 3] = 255;
  }
  canvas.getContext('2d')!.putImageData(image, 0, 0);
  return canvas;
}

function scoreRow(
  name: string,
  set: string,
  input: Float32Array,
  shape: ModelImageShape,
  score: ImageScore,
  reference: ReferenceScores,
): HTMLTableRowElement {
  const row = document.createElement('tr');
  const cell = (content: string | Node) => {
    const td = document.createElement('td');
    td.append(content);
    row.append(td);
  };
  cell(thumbnail(input, shape));
  cell(name);
  cell(set);
  cell(score.bitsPerDim.toFixed(4));
  cell(score.perScaleBitsPerDim.map((v) => v.toFixed(3)).join(' / '));
  cell(score.perScaleBitsPerDim.at(-1)!.toFixed(4));
  cell(score.generalBitsPerDim.toFixed(4));
  cell(score.likelihoodRatio.toFixed(4));
  cell(distributionPlot(reference, score));
  return row;
}

/**
 * A file as 8-bit RGB, decoded by the browser: EXIF orientation applied, the stored values
 * without colour management (as the CLI's decoder reads them), transparency flattened onto
 * black as the CLI does.
 */
async function decodeFile(file: File): Promise<{ rgb: Uint8Array; height: number; width: number }> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, {
      imageOrientation: 'from-image',
      premultiplyAlpha: 'none',
      colorSpaceConversion: 'none',
    });
  } catch (e) {
    const why = (e as Error).message || 'not an image this browser reads';
    throw new Error(`${file.name}: cannot decode the image (${why})`);
  }
  try {
    const { height, width } = bitmap;
    checkImagePixels(file.name, height, width);
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext('2d', { willReadFrequently: true })!;
    context.drawImage(bitmap, 0, 0);
    const { data } = context.getImageData(0, 0, width, height);
    return { rgb: rgbaOnBlack(data), height, width };
  } finally {
    bitmap.close();
  }
}

async function scoreInChunks(
  fashion: AnyModel,
  general: AnyModel,
  inputs: Float32Array[],
  shape: ModelImageShape,
): Promise<ImageScore[]> {
  const size = shape.height * shape.width * shape.channels;
  const scores: ImageScore[] = [];
  for (let start = 0; start < inputs.length; start += CHUNK) {
    const chunk = inputs.slice(start, start + CHUNK);
    const values = new Float32Array(chunk.length * size);
    for (const [i, input] of chunk.entries()) values.set(input, i * size);
    const batch: [number, number, number, number] = [
      chunk.length,
      shape.height,
      shape.width,
      shape.channels,
    ];
    scores.push(...(await scoreInputs(fashion, general, values, batch)));
  }
  return scores;
}

function showAuroc(table: { kind: { label: string }; auroc: number }[], n: number, m: number) {
  const section = $<HTMLDivElement>('#auroc');
  const body = section.querySelector('tbody')!;
  body.replaceChildren();
  for (const { kind, auroc } of table) {
    const row = document.createElement('tr');
    for (const text of [kind.label, auroc.toFixed(4)]) {
      const td = document.createElement('td');
      td.textContent = text;
      row.append(td);
    }
    body.append(row);
  }
  section.querySelector('p')!.textContent =
    `AUROC: ${n} in-distribution reference images against the ${m} images dropped ` +
    '(1 = every dropped image looks more anomalous than every reference image; 0.5 = no difference)';
  section.hidden = false;
}

function describeBackend(): string {
  const info = backendInfo();
  const parts = [info.backend];
  if (info.threads !== null) parts.push(`${info.threads} thread${info.threads === 1 ? '' : 's'}`);
  if (info.threadsFallbackReason)
    parts.push(`fell back to one thread: ${info.threadsFallbackReason}`);
  // Threads need SharedArrayBuffer, which only a cross-origin isolated page has.
  parts.push(
    crossOriginIsolated
      ? 'cross-origin isolated'
      : 'not cross-origin isolated (wasm on one thread; hierglow serve isolates the page)',
  );
  if (info.simdKernels !== null)
    parts.push(`hierglow SIMD kernels ${info.simdKernels ? 'on' : 'off'}`);
  return parts.join(' · ');
}

/** The backend menu: a choice reloads the page with `?backend=`; webgpu only where it exists. */
async function backendMenu(current: string): Promise<void> {
  const select = $<HTMLSelectElement>('#backend');
  const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  const webgpu = gpu ? (await gpu.requestAdapter().catch(() => null)) !== null : false;
  for (const option of Array.from(select.options)) {
    if (option.value === 'webgpu' && !webgpu) {
      option.disabled = true;
      option.textContent = 'webgpu (unavailable)';
    }
  }
  select.value = current;
  select.disabled = false;
  select.addEventListener('change', () => {
    const url = new URL(location.href);
    url.searchParams.set('backend', select.value);
    location.assign(url);
  });
}

async function main(): Promise<void> {
  const here = new URL('.', location.href);
  const params = new URLSearchParams(location.search);
  const backend = params.get('backend') ?? 'wasm';
  const threads = params.get('threads');
  await selectBackend(backend, {
    wasmPaths: new URL('wasm/', here).href,
    ...(threads === null ? {} : { threads: Number(threads) }),
  });
  const info = backendInfo();
  $('#backend-info').textContent = describeBackend();
  await backendMenu(info.backend);
  const [fashion, general] = await Promise.all(
    ['fashion', 'general'].map((name) =>
      restoreModelFromUrl(new URL(`models/${name}/`, here), createModel, { optimizerState: false }),
    ),
  );
  const reference = (await (
    await fetch(new URL('reference-scores.json', here))
  ).json()) as ReferenceScores;
  for (const [name, restored] of Object.entries({ fashion: fashion!, general: general! })) {
    const sha = restored.config.files['model.safetensors']?.sha256;
    if (sha !== reference.models[name as 'fashion' | 'general']) {
      throw new Error(
        `reference-scores.json: made with another models/${name} (model.safetensors ${reference.models[name as 'fashion']}, loaded ${sha}); rerun node examples/browser-app/prepare-assets.mjs`,
      );
    }
  }
  const [height, width, channels] = fashion!.model.inputShape as [number, number, number];
  const shape: ModelImageShape = { height, width, channels };
  $('#reference-note').textContent =
    `Plots: each image's score (red) against ${reference.count} ${reference.dataset} images ` +
    `(${reference.description}); the percentage is the share of them at least as anomalous.`;

  const demo = (await (await fetch(new URL('demo-images.json', here))).json()) as {
    sets: DemoSet[];
  };
  status.textContent = `Scoring the demo images on ${describeBackend()}…`;
  const rows = $('#scores tbody');
  const images: PageResult[] = [];
  const started = performance.now();
  for (const set of demo.sets) {
    const [count] = set.shape;
    const inputs = bytesModelInput(bytesOf(set.pixels), count, shape);
    const scores = await scoreInputs(fashion!.model, general!.model, inputs, set.shape);
    const size = inputs.length / count;
    scores.forEach((score, index) => {
      images.push({ set: set.name, index, score });
      const input = inputs.subarray(index * size, (index + 1) * size);
      rows.append(scoreRow(`#${index}`, set.name, input, shape, score, reference));
    });
  }
  const seconds = (performance.now() - started) / 1000;
  $<HTMLTableElement>('#scores').hidden = false;
  status.textContent = `${images.length} demo images scored on ${describeBackend()} in ${seconds.toFixed(2)} s. Drop or pick your own images.`;
  window.hierglowResults = {
    backend: info.backend,
    threads: info.threads,
    crossOriginIsolated,
    simdKernels: info.simdKernels,
    seconds,
    images,
  };

  let run = 0;
  const scoreFiles = async (files: File[]) => {
    run++;
    document.body.dataset.dropped = 'scoring';
    status.textContent = `Reading ${files.length} image${files.length === 1 ? '' : 's'}…`;
    const t0 = performance.now();
    const decoded: { name: string; input: Float32Array }[] = [];
    const errors: string[] = [];
    for (const file of files) {
      try {
        const { rgb, height: h, width: w } = await decodeFile(file);
        decoded.push({ name: file.name, input: imageFileModelInput(file.name, rgb, h, w, shape) });
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    const t1 = performance.now();
    status.textContent = `Scoring ${decoded.length} images on ${describeBackend()}…`;
    const inputs = decoded.map((d) => d.input);
    const scores = await scoreInChunks(fashion!.model, general!.model, inputs, shape);
    const t2 = performance.now();
    const body = $('#dropped-scores tbody');
    body.replaceChildren();
    decoded.forEach((d, i) => {
      body.append(scoreRow(d.name, 'dropped', d.input, shape, scores[i]!, reference));
    });
    $<HTMLTableElement>('#dropped-scores').hidden = decoded.length === 0;
    const list = $('#file-errors');
    list.replaceChildren(
      ...errors.map((line) => {
        const li = document.createElement('li');
        li.textContent = line;
        return li;
      }),
    );
    const table = scores.length >= 2 ? aurocTable(reference, scores) : null;
    if (table) showAuroc(table, reference.count, scores.length);
    else $<HTMLDivElement>('#auroc').hidden = true;
    window.hierglowDropped = {
      run,
      decodeSeconds: (t1 - t0) / 1000,
      seconds: (t2 - t1) / 1000,
      images: decoded.map((d, i) => ({ name: d.name, score: scores[i]! })),
      errors,
      auroc: table && Object.fromEntries(table.map(({ kind, auroc }) => [kind.key, auroc])),
    };
    status.textContent =
      `${decoded.length} dropped image${decoded.length === 1 ? '' : 's'} scored on ${describeBackend()} in ${((t2 - t1) / 1000).toFixed(2)} s` +
      (errors.length ? `; ${errors.length} could not be read (listed below).` : '.');
    document.body.dataset.dropped = 'done';
  };
  const guarded = (files: File[]) =>
    scoreFiles(files).catch((error: unknown) => {
      status.textContent = `Error: ${(error as Error).message}`;
      document.body.dataset.dropped = 'error';
    });

  const picker = $<HTMLInputElement>('#files');
  picker.disabled = false;
  picker.addEventListener('change', () => {
    const files = Array.from(picker.files ?? []);
    if (files.length) void guarded(files);
  });
  const zone = $<HTMLElement>('#dropzone');
  // Without this the browser opens a file dropped next to the zone in place of the page.
  for (const type of ['dragover', 'drop'] as const) {
    window.addEventListener(type, (e) => e.preventDefault());
  }
  zone.addEventListener('dragover', () => zone.classList.add('over'));
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    zone.classList.remove('over');
    const files = Array.from(e.dataTransfer?.files ?? []);
    if (files.length) void guarded(files);
  });
  document.body.dataset.state = 'done';
}

main().catch((error: unknown) => {
  status.textContent = `Error: ${(error as Error).message}`;
  document.body.dataset.state = 'error';
});
