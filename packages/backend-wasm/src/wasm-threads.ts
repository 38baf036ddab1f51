import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';

/**
 * Multithreaded wasm backend under Node.
 *
 * tfjs-backend-wasm ships a threaded SIMD binary but forces it off under Node for two reasons we
 * can work around without patching the package:
 * 1. Emscripten starts its pthread workers from `blob:` URLs (`URL.createObjectURL(new Blob(...))`),
 *    which Node's `worker_threads` cannot load. While the backend initialises, we swap in a `Blob`
 *    that writes its text to a temporary file and a `URL.createObjectURL` that returns that file's
 *    path. The worker script gets a prelude so that, inside each worker, the main-script "blob"
 *    (a cloned plain object) also resolves to its file, and so that the identifiers the bundler
 *    hoisted out of the factory (`require$$0 = require('fs')`, `commonjsGlobal`, ...) exist there.
 * 2. The C++ side caps the thread pool at `logical cores / 2` (it assumes hyper-threading), read
 *    through `os.cpus()` under Node. We report twice the requested thread count while it initialises.
 * Everything is restored as soon as initialisation returns (also when it throws). The files are
 * removed as soon as every pool worker has read them (Emscripten reads them once, when a worker
 * loads; the pool is complete when initialisation returns), and in any case at exit.
 */

const require = createRequire(import.meta.url);

/** What {@link installWasmThreadShim} set up, to be undone by the caller. */
export interface WasmThreadShim {
  /** Puts back `Blob`, `URL.createObjectURL` and `os.cpus`. Call once initialisation returns. */
  restoreGlobals(): void;
  /** Deletes the temporary files; call once no worker will read them again. */
  removeFiles(): void;
}

/**
 * Swaps in the globals and functions the threaded binary needs while it initialises (see
 * above). The caller restores them in a `finally` right after initialisation.
 */
export function installWasmThreadShim(threads: number): WasmThreadShim {
  // Lets tests (and users chasing a problem) exercise the single-thread fallback on purpose.
  if (process.env.HIERGLOW_WASM_THREADS_FAIL === '1') {
    throw new Error('HIERGLOW_WASM_THREADS_FAIL=1 is set');
  }
  const bundlePath = require.resolve('@tensorflow/tfjs-backend-wasm');
  const prelude = workerPrelude(readFileSync(bundlePath, 'utf8'));
  const dir = mkdtempSync(join(os.tmpdir(), 'hierglow-wasm-'));
  const removeFiles = () => {
    rmSync(dir, { recursive: true, force: true });
    process.removeListener('exit', removeFiles);
  };
  // The safety net: a process that exits before the workers are ready still cleans up.
  process.once('exit', removeFiles);

  let count = 0;
  class FileBlob {
    readonly __hierglowPath: string;
    constructor(parts: unknown[]) {
      this.__hierglowPath = join(dir, `module-${count++}.js`);
      writeFileSync(this.__hierglowPath, prelude + parts.map(String).join(''));
    }
  }
  const g = globalThis as unknown as { Blob: unknown };
  const realBlob = g.Blob;
  const realCreateObjectURL = URL.createObjectURL;
  const realCpus = os.cpus;
  g.Blob = FileBlob;
  URL.createObjectURL = ((blob: unknown) => {
    const path = (blob as { __hierglowPath?: string } | null)?.__hierglowPath;
    return path ?? realCreateObjectURL(blob as Blob);
  }) as typeof URL.createObjectURL;
  os.cpus = () => {
    const one = realCpus()[0]!;
    return Array.from({ length: 2 * threads }, () => one);
  };
  return {
    restoreGlobals: () => {
      g.Blob = realBlob;
      URL.createObjectURL = realCreateObjectURL;
      os.cpus = realCpus;
    },
    removeFiles,
  };
}

/**
 * Code run at the top of every file the shim writes. In a worker it makes `URL.createObjectURL`
 * resolve our file-backed "blobs" and re-creates the module-level names the bundler hoisted out of
 * the Emscripten factory, read from the bundle's own `var require$$N = require('x');` lines so a
 * renumbering in a future tfjs build is picked up.
 */
export function workerPrelude(bundleSource: string): string {
  const hoisted = [
    ...bundleSource.matchAll(/^var (require\$\$\d+) = require\('([^']+)'\);$/gm),
  ].map(([, name, mod]) => `${name}=require(${JSON.stringify(mod)})`);
  if (hoisted.length === 0) {
    throw new Error('tfjs-backend-wasm bundle layout not recognised (no hoisted requires found)');
  }
  return (
    'if(typeof URL!=="undefined"){const __c=URL.createObjectURL;URL.createObjectURL=(b)=>b&&b.__hierglowPath?b.__hierglowPath:__c(b);}' +
    `var ${hoisted.join(',')},commonjsGlobal=globalThis;\n`
  );
}

/** Threads to use: `HIERGLOW_WASM_THREADS`, else the number of logical CPUs, capped at 8. */
export function defaultWasmThreads(): number {
  const fromEnv = process.env.HIERGLOW_WASM_THREADS;
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (Number.isInteger(n) && n >= 1) return Math.min(n, 8);
  }
  return Math.max(1, Math.min(os.cpus().length, 8));
}
