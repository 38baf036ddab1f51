/**
 * The browser counterpart of wasm-threads.ts, swapped in by bundlers through the `browser`
 * field of package.json. A page runs tfjs-backend-wasm's threaded binary as it is, with no shim,
 * but only where `SharedArrayBuffer` exists, that is on a cross-origin isolated page (served
 * with `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy:
 * require-corp`); anywhere else it runs on one thread.
 */

/** What the Node shim sets up; in a page there is nothing to undo. */
export interface WasmThreadShim {
  restoreGlobals(): void;
  removeFiles(): void;
}

interface PageGlobals {
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
}

/** Whether this page may share wasm memory between threads. */
export function pageCanUseThreads(): boolean {
  const page = globalThis as PageGlobals;
  return page.crossOriginIsolated === true && typeof SharedArrayBuffer !== 'undefined';
}

/**
 * Nothing to swap in a page; throws (so selectBackend falls back to one thread and says why)
 * where the page cannot share memory between threads.
 */
export function installWasmThreadShim(_threads: number): WasmThreadShim {
  if (!pageCanUseThreads()) {
    throw new Error(
      'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)',
    );
  }
  return { restoreGlobals: () => {}, removeFiles: () => {} };
}

/** Threads to use: the logical CPUs (at most 8) on a cross-origin isolated page, else 1. */
export function defaultWasmThreads(): number {
  if (!pageCanUseThreads()) return 1;
  const cores = (globalThis as PageGlobals).navigator?.hardwareConcurrency ?? 1;
  return Math.max(1, Math.min(cores, 8));
}
