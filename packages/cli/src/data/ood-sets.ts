import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  createRng,
  type ImageDataset,
  inMemoryDataset,
  type Provenance,
  writeHierglowDataset,
} from '@hierglow/datasets';
import { UsageError } from '../util/errors.js';

const run = promisify(execFile);

/**
 * The font packages data-sources.md §3 allows, and only those: digits are never rendered from
 * other fonts a machine may have (some are kept back for held-out evaluation).
 */
export const ALLOWED_FONT_PACKAGES = [
  'fonts-dejavu-core',
  'fonts-dejavu-extra',
  'ttf-bitstream-vera',
  'fonts-liberation',
  'fonts-liberation2',
  'fonts-croscore',
  'fonts-crosextra-carlito',
  'fonts-crosextra-caladea',
  'fonts-freefont-ttf',
  'fonts-freefont-otf',
  'fonts-urw-base35',
  'fonts-texgyre',
  'fonts-noto-core',
  'fonts-noto-mono',
  'fonts-noto-ui-core',
  'fonts-roboto-unhinted',
  'fonts-roboto-slab',
  'fonts-open-sans',
  'fonts-lato',
  'fonts-cmu',
  'fonts-lmodern',
  'fonts-hack',
  'fonts-inconsolata',
  'fonts-firacode',
  'fonts-jetbrains-mono',
  'fonts-comic-neue',
  'fonts-lobster',
  'fonts-leckerli-one',
] as const;

/** Debian's Python with Pillow rasterises the glyphs (FreeType). */
const PYTHON = '/usr/bin/python3';
const RENDERER = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'scripts',
  'render-digits.py',
);

async function installed(pkg: string): Promise<boolean> {
  try {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own format syntax
    const { stdout } = await run('dpkg-query', ['-W', '-f=${Status}', pkg]);
    return stdout.includes('install ok installed');
  } catch {
    return false;
  }
}

/**
 * Installs what digit rendering needs (python3-pil and the font packages; none has large
 * dependencies) with apt-get when running as root; otherwise says what to install.
 */
export async function ensureDigitTools(
  packages: readonly string[],
  log: (line: string) => void,
): Promise<void> {
  const missing: string[] = [];
  for (const p of ['python3-pil', ...packages]) if (!(await installed(p))) missing.push(p);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new UsageError(
      `digits need these Debian packages: sudo apt-get install -y --no-install-recommends ${missing.join(' ')}`,
      1,
    );
  }
  log(`installing ${missing.join(' ')} with apt-get`);
  const apt = (args: string[]) =>
    new Promise<number>((res, rej) => {
      const child = spawn('apt-get', args, { stdio: ['ignore', 'ignore', 'inherit'] });
      child.on('error', rej);
      child.on('close', (code) => res(code ?? 1));
    });
  let code = await apt(['install', '-y', '--no-install-recommends', ...missing]);
  if (code !== 0) {
    await apt(['update']);
    code = await apt(['install', '-y', '--no-install-recommends', ...missing]);
  }
  if (code !== 0)
    throw new UsageError(`apt-get install ${missing.join(' ')} failed (exit ${code})`, 1);
}

/** The .ttf/.otf files of the given (installed) packages, sorted. */
export async function fontFiles(packages: readonly string[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of packages) {
    if (!(await installed(p))) continue;
    const { stdout } = await run('dpkg', ['-L', p], { maxBuffer: 64 * 1024 * 1024 });
    for (const f of stdout.split('\n')) if (/\.(ttf|otf)$/i.test(f) && existsSync(f)) files.push(f);
  }
  return [...new Set(files)].sort();
}

/** MNIST-like digits (28x28 grey, white on black) with their labels and source fonts. */
export interface RenderedDigits {
  pixels: Uint8Array;
  labels: Int32Array;
  fonts: string[];
  /** Images dropped because another font rendered the identical bitmap. */
  duplicates: number;
}

/** Renders the digits of every font with scripts/render-digits.py and drops exact duplicates. */
export async function renderDigits(fonts: string[]): Promise<RenderedDigits> {
  const work = await mkdtemp(join(tmpdir(), 'hierglow-digits-'));
  try {
    const list = join(work, 'fonts.txt');
    const bin = join(work, 'digits.bin');
    await writeFile(list, `${fonts.join('\n')}\n`);
    const { stdout } = await run(PYTHON, [RENDERER, list, bin], { maxBuffer: 256 * 1024 * 1024 });
    const meta = stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { font: string; digit: number });
    const bytes = await readFile(bin);
    const seen = new Set<string>();
    const keep: number[] = [];
    meta.forEach((_, i) => {
      const key = bytes.subarray(i * 784, (i + 1) * 784).toString('base64');
      if (!seen.has(key)) {
        seen.add(key);
        keep.push(i);
      }
    });
    const pixels = new Uint8Array(keep.length * 784);
    keep.forEach((i, k) => {
      pixels.set(bytes.subarray(i * 784, (i + 1) * 784), k * 784);
    });
    return {
      pixels,
      labels: Int32Array.from(keep, (i) => meta[i]!.digit),
      fonts: [...new Set(keep.map((i) => meta[i]!.font))],
      duplicates: meta.length - keep.length,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** `count` images of i.i.d. uniform pixel values in {0..255}. */
export function uniformNoise(count: number, size: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const px = new Uint8Array(count * size * size);
  for (let i = 0; i < px.length; i++) px[i] = Math.floor(rng.uniform() * 256);
  return px;
}

/** `count` images of one constant value each, drawn uniformly from {0..255}. */
export function constantImages(count: number, size: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const px = new Uint8Array(count * size * size);
  for (let n = 0; n < count; n++)
    px.fill(Math.floor(rng.uniform() * 256), n * size * size, (n + 1) * size * size);
  return px;
}

/** Writes a dataset to `path` through a temporary sibling and a rename (never half-written). */
export async function writeDatasetAtomic(
  path: string,
  ds: ImageDataset,
  provenance?: Provenance,
): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  try {
    await writeHierglowDataset(temp, ds, provenance ? { provenance } : {});
    await rename(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
}

/** Grey square images in memory as a dataset. */
export function greyImages(
  pixels: Uint8Array,
  size: number,
  description: string,
  provenance: Provenance,
  labels?: Int32Array,
  classNames?: string[],
): ImageDataset {
  return inMemoryDataset({
    pixels,
    count: pixels.length / (size * size),
    height: size,
    width: size,
    channels: 1,
    description,
    provenance,
    ...(labels ? { labels } : {}),
    ...(classNames ? { classNames, numClasses: classNames.length } : {}),
  });
}
