import * as cpuPackage from '@tensorflow/tfjs-backend-cpu';
import * as wasmPackage from '@tensorflow/tfjs-backend-wasm';

/**
 * The browser counterpart of node-packages.ts, swapped in by bundlers through the `browser`
 * field of package.json. The default backends (wasm, cpu) are imported statically, so a bundle
 * holds them; webgl and webgpu are optional peer dependencies loaded as lazy chunks only when
 * selected.
 */

const STATIC_PACKAGES: Record<string, { module: unknown; version: string }> = {
  '@tensorflow/tfjs-backend-wasm': { module: wasmPackage, version: wasmPackage.version_wasm },
  '@tensorflow/tfjs-backend-cpu': { module: cpuPackage, version: cpuPackage.version_cpu },
};

const loadedVersions = new Map<string, string>();

/** A package bundled with this entry (wasm or cpu backend). */
export function loadPackage<T = unknown>(name: string): T {
  const entry = STATIC_PACKAGES[name];
  if (!entry) throw notFound(name);
  return entry.module as T;
}

/**
 * Loads an optional backend package as a lazy chunk. The specifiers are literal so that
 * bundlers find them; a bundler that cannot resolve one (not installed) leaves an import that
 * rejects here, and selectBackend turns that into its one clear error.
 */
export async function loadOptionalPackage(name: string): Promise<unknown> {
  let loaded: unknown;
  try {
    if (name === '@tensorflow/tfjs-backend-webgl') {
      loaded = await import('@tensorflow/tfjs-backend-webgl');
    } else if (name === '@tensorflow/tfjs-backend-webgpu') {
      loaded = await import('@tensorflow/tfjs-backend-webgpu');
    } else {
      throw notFound(name);
    }
  } catch (cause) {
    if ((cause as { code?: string }).code === 'MODULE_NOT_FOUND') throw cause;
    throw notFound(name, cause);
  }
  // tfjs-backend-webgpu exports no version; webgl does.
  const version = (loaded as { version_webgl?: string }).version_webgl;
  if (version) loadedVersions.set(name, version);
  return loaded;
}

function notFound(name: string, cause?: unknown): Error {
  const error = new Error(`Cannot find module '${name}'`, { cause }) as Error & { code: string };
  error.code = 'MODULE_NOT_FOUND';
  return error;
}

/** The version of a package this bundle holds or has loaded, else undefined. */
export function packageVersion(pkg: string): string | undefined {
  return STATIC_PACKAGES[pkg]?.version ?? loadedVersions.get(pkg);
}

/** Where this code runs: backends of the other runtime are reported unavailable. */
export const HOST_RUNTIME: 'node' | 'browser' = 'browser';

/** A page has no process listeners to clean up after Emscripten. */
export async function withoutAddedExitListeners<T>(init: () => Promise<T>): Promise<T> {
  return init();
}

/** A page has no environment variables: every setting comes through selectBackend's options. */
export function environmentVariable(_name: string): string | undefined {
  return undefined;
}

/** Browsers ship relaxed SIMD or not (Chrome 114+); a page cannot turn it on. */
export function enableRuntimeRelaxedSimd(): boolean {
  return false;
}

/** The runtime's name and version for `backendInfo().versions`. */
export function runtimeVersion(): [string, string] {
  const agent = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent;
  return ['browser', agent ?? 'unknown'];
}
