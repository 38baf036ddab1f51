import { ConfigError, installFusedOps } from '@hierglow/flow-layers';
import * as tf from '@tensorflow/tfjs-core';
import { BackendUnavailableError } from './errors.js';
import { WASM_FUSED_OPS } from './fused-ops.js';
import {
  installSimdKernels,
  SIMD_KERNELS_ENV_VAR,
  SIMD_THREADS_ENV_VAR,
  type SimdKernelsVariant,
  simdKernelsState,
  simdKernelThreads,
} from './kernels/simd-kernels.js';
import { installWasmKernels } from './kernels/wasm-kernels.js';
import {
  environmentVariable,
  HOST_RUNTIME,
  loadOptionalPackage,
  loadPackage,
  packageVersion,
  runtimeVersion,
  withoutAddedExitListeners,
} from './node-packages.js';
import { installLuWeightKernels } from './ops/lu-weight.js';
import { installScaleColumnsKernels } from './ops/scale-columns.js';
import { defaultWasmThreads, installWasmThreadShim, type WasmThreadShim } from './wasm-threads.js';

/**
 * Backends hierglow knows how to load. `wasm` is the default. `node` and `gpu` (tfjs-node) run
 * only under Node, `webgl` and `webgpu` only in a browser.
 */
export type BackendName = 'wasm' | 'cpu' | 'node' | 'gpu' | 'webgl' | 'webgpu';
export const BACKEND_NAMES: readonly BackendName[] = [
  'wasm',
  'cpu',
  'node',
  'gpu',
  'webgl',
  'webgpu',
];

/** The environment variable read by {@link selectBackend} when no name is given. */
export const BACKEND_ENV_VAR = 'HIERGLOW_BACKEND';

/** tfjs' own name for each backend once registered. */
const TFJS_NAME: Record<BackendName, string> = {
  wasm: 'wasm',
  cpu: 'cpu',
  node: 'tensorflow',
  gpu: 'tensorflow',
  webgl: 'webgl',
  webgpu: 'webgpu',
};

const OPTIONAL_PACKAGE: Partial<Record<BackendName, string>> = {
  node: '@tensorflow/tfjs-node',
  gpu: '@tensorflow/tfjs-node-gpu',
  webgl: '@tensorflow/tfjs-backend-webgl',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
};

const BROWSER_BACKENDS: readonly BackendName[] = ['webgl', 'webgpu'];
const NODE_BACKENDS: readonly BackendName[] = ['node', 'gpu'];

function parseBackendName(name: string): BackendName {
  const lower = name.trim().toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(lower)) return lower as BackendName;
  throw new ConfigError(
    `Unknown backend '${name}'. Choose one of: ${BACKEND_NAMES.join(', ')} (set with --backend or ${BACKEND_ENV_VAR}).`,
  );
}

/** Resolves the backend a caller asked for: the argument, else HIERGLOW_BACKEND, else wasm. */
export function resolveBackendName(name?: string): BackendName {
  const requested = name ?? environmentVariable(BACKEND_ENV_VAR);
  return requested === undefined || requested === '' ? 'wasm' : parseBackendName(requested);
}

async function loadBackendPackage(name: BackendName): Promise<void> {
  if (name === 'wasm') {
    loadPackage('@tensorflow/tfjs-backend-wasm');
    // Data-movement kernels that copy less than the stock ones (see kernels/wasm-kernels.ts).
    installWasmKernels(() => wasmThreadsCount());
    installScaleColumnsKernels();
    installLuWeightKernels();
    return;
  }
  if (name === 'cpu') {
    loadPackage('@tensorflow/tfjs-backend-cpu');
    return;
  }
  const pkg = OPTIONAL_PACKAGE[name]!;
  const otherRuntime = HOST_RUNTIME === 'node' ? BROWSER_BACKENDS : NODE_BACKENDS;
  if (otherRuntime.includes(name)) {
    throw new BackendUnavailableError(
      `Backend '${name}' is unavailable: it runs only ${HOST_RUNTIME === 'node' ? 'in a web browser' : 'under Node'}. ` +
        `Here use 'wasm' (default), 'cpu'${HOST_RUNTIME === 'node' ? ", 'node' or 'gpu'" : ", 'webgl' or 'webgpu'"}.`,
    );
  }
  try {
    // Lazy: tfjs-node downloads libtensorflow at install time, which fails on machines without
    // general internet access; webgl and webgpu are optional peers a page loads when chosen.
    await loadOptionalPackage(pkg);
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    const why =
      code === 'MODULE_NOT_FOUND'
        ? `${pkg} is not installed`
        : `${pkg} failed to load (${(cause as Error).message})`;
    throw new BackendUnavailableError(
      `Backend '${name}' is unavailable: ${why}. Install it with \`npm install ${pkg}@4.22.0\`. ` +
        (BROWSER_BACKENDS.includes(name)
          ? 'It is an optional peer dependency of @hierglow/backend-wasm. '
          : `It is not in hierglow's default install because its install step downloads libtensorflow ` +
            `from outside the npm registry${name === 'gpu' ? ' and needs CUDA' : ''}. `) +
        `The 'wasm' (default) and 'cpu' backends need nothing extra.`,
      { cause },
    );
  }
}

/** The wasm backend's (XNNPACK's) thread-pool size (1 when single-threaded). */
function wasmThreadsCount(): number {
  return loadPackage<{ getThreadsCount(): number }>(
    '@tensorflow/tfjs-backend-wasm',
  ).getThreadsCount();
}

/** Options of {@link selectBackend}. */
export interface SelectBackendOptions {
  /**
   * wasm only: threads to compute on. Default `HIERGLOW_WASM_THREADS`, else the number of
   * logical CPUs (max 8). 1 uses the single-threaded SIMD binary. With more, one of them is the
   * helper thread of hierglow's own kernels and the rest XNNPACK's pool. If the threaded binary
   * fails to start, hierglow falls back to one thread and `backendInfo().threads` says so.
   */
  threads?: number;
  /**
   * wasm in a browser: where tfjs-backend-wasm's `.wasm` files are served (a folder URL ending
   * in `/`, or one URL per file name), passed to its `setWasmPaths`. Bundlers do not copy
   * those files; without this they are fetched next to the page's script.
   */
  wasmPaths?: string | Record<string, string>;
}

let wasmThreadsFallbackReason: string | null = null;

/** Threads the wasm backend computes on: XNNPACK's pool, plus hierglow's helper thread. */
let wasmThreadsInUse = 1;

/**
 * XNNPACK's pool size for `threads` threads in all. hierglow's own SIMD kernels (every
 * convolution and filter gradient of a Glow step) split their large calls with a thread of their
 * own, so that thread counts as one of the `threads` and the pool gets the rest. Why not both at
 * full size: XNNPACK's pool threads spin for a while after each of its ops, so on two cores the
 * helper thread would share its core with a spinning one; a pool of `threads − 1` was faster in
 * every configuration measured (bench/README.md, ADR 0004).
 */
function xnnpackPoolSize(threads: number): number {
  const helperWanted =
    environmentVariable(SIMD_KERNELS_ENV_VAR) !== '0' &&
    environmentVariable(SIMD_THREADS_ENV_VAR) !== '1';
  return helperWanted ? Math.max(1, threads - 1) : threads;
}

/**
 * Loads and activates a tfjs backend. With no argument, reads `HIERGLOW_BACKEND`, defaulting
 * to `wasm`. Optional backends (`node`, `gpu`) are imported lazily; a missing one raises a
 * {@link BackendUnavailableError} that says what to install.
 *
 * The wasm backend is initialised once per process; later calls switch back to it with the
 * thread count it started with.
 *
 * @example
 * await selectBackend('cpu');
 */
export async function selectBackend(
  name?: string,
  options: SelectBackendOptions = {},
): Promise<BackendInfo> {
  const backend = resolveBackendName(name);
  await loadBackendPackage(backend);
  if (backend === 'wasm' && options.wasmPaths !== undefined) {
    loadPackage<{ setWasmPaths(paths: string | Record<string, string>): void }>(
      '@tensorflow/tfjs-backend-wasm',
    ).setWasmPaths(options.wasmPaths);
  }
  // flow-layers' bijectors call this package's ops from now on, where they apply (wasm, cpu).
  installFusedOps(WASM_FUSED_OPS);
  const ok =
    backend === 'wasm'
      ? await setWasmBackend(options.threads ?? defaultWasmThreads())
      : await tf.setBackend(TFJS_NAME[backend]);
  if (!ok) {
    throw new BackendUnavailableError(
      `Backend '${backend}' was found but failed to initialise (tf.setBackend returned false).`,
    );
  }
  await tf.ready();
  // hierglow's own SIMD kernels live in the wasm backend's memory, so they load after it.
  if (backend === 'wasm') installSimdKernels(wasmThreadsInUse);
  if (backend === 'cpu') {
    // The cpu backend prints a banner recommending tfjs-node on first use; hierglow users chose
    // cpu on purpose (tests, tiny models), and the banner would corrupt CLI output.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
  return backendInfo();
}

async function setWasmBackend(threads: number): Promise<boolean> {
  const alreadyInitialised = tf.engine().registry.wasm !== undefined;
  if (alreadyInitialised || threads <= 1) {
    if (!alreadyInitialised) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
    return withoutAddedExitListeners(() => tf.setBackend('wasm'));
  }
  const wasm = loadPackage<{ setThreadsCount(n: number): void }>('@tensorflow/tfjs-backend-wasm');
  let shim: WasmThreadShim | null = null;
  try {
    shim = installWasmThreadShim(threads);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    wasm.setThreadsCount(xnnpackPoolSize(threads));
    const ok = await withoutAddedExitListeners(() => tf.setBackend('wasm'));
    if (ok) {
      const workers = pthreadWorkers();
      for (const worker of workers) worker.unref?.();
      // Every pool worker has read its files: nothing will read them again.
      if (workers.every((w) => w.loaded === true)) shim.removeFiles();
      wasmThreadsInUse = threads;
      return true;
    }
    shim.removeFiles();
    wasmThreadsFallbackReason = 'the threaded wasm binary failed to initialise';
  } catch (e) {
    shim?.removeFiles();
    wasmThreadsFallbackReason = `the threaded wasm binary could not be prepared: ${(e as Error).message}`;
  } finally {
    shim?.restoreGlobals();
  }
  // Clean fallback: the single-threaded SIMD binary needs none of the above.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setThreadsCount(1);
  return withoutAddedExitListeners(() => tf.setBackend('wasm'));
}

/**
 * The Node workers of XNNPACK's pool. Emscripten refs them, so a Node process would never exit
 * on its own: the caller unrefs them (the pool lives as long as the process; nothing needs it to
 * keep the process alive).
 */
function pthreadWorkers(): PthreadWorker[] {
  const module = (tf.backend() as unknown as { wasm?: { PThread?: PThreadRegistry } }).wasm;
  const registry = module?.PThread;
  if (!registry) return [];
  return [...registry.runningWorkers, ...registry.unusedWorkers];
}

interface PthreadWorker {
  unref?: () => void;
  /** Set by Emscripten once the worker has loaded its scripts. */
  loaded?: boolean;
}

interface PThreadRegistry {
  runningWorkers: PthreadWorker[];
  unusedWorkers: PthreadWorker[];
}

/** What is running now: backend, SIMD, threads and the versions of the tfjs packages. */
export interface BackendInfo {
  /** hierglow's name for the active backend, or tfjs' name when it is not one of ours. */
  backend: BackendName | string;
  /** tfjs' registered name for the backend. */
  tfjsBackend: string;
  /** wasm only: whether the SIMD binary is in use. */
  simd: boolean | null;
  /**
   * wasm only: threads it computes on (1 = the single-threaded binary): XNNPACK's pool
   * ({@link BackendInfo.xnnpackThreads}) plus, with hierglow's kernels, their helper thread.
   */
  threads: number | null;
  /** wasm only: size of XNNPACK's thread pool (the stock kernels' threads). */
  xnnpackThreads: number | null;
  /** wasm only: why the threaded binary is not in use although more threads were asked for. */
  threadsFallbackReason: string | null;
  /** wasm only: whether hierglow's own SIMD kernels are in use (kernels/simd-kernels.ts). */
  simdKernels: boolean | null;
  /** wasm only: why they are not. */
  simdKernelsFallbackReason: string | null;
  /**
   * wasm only, with the kernels loaded: `relaxed-simd` (fused multiply-adds; where the runtime
   * validates relaxed SIMD, e.g. Node 20 with `--experimental-wasm-relaxed-simd`, Node 22,
   * Chrome 114) or `simd128` (elsewhere, or with `HIERGLOW_RELAXED_SIMD=0`).
   */
  simdKernelsVariant: SimdKernelsVariant | null;
  /**
   * wasm only: threads their large products use (2 with the threaded binary once the helper
   * thread has started, which takes a few milliseconds after `selectBackend`).
   */
  simdKernelThreads: number | null;
  versions: Record<string, string>;
}

export function backendInfo(): BackendInfo {
  const tfjsBackend = tf.getBackend();
  const ours = (Object.keys(TFJS_NAME) as BackendName[]).find((k) => TFJS_NAME[k] === tfjsBackend);
  let backend: string = ours ?? tfjsBackend;
  if (tfjsBackend === 'tensorflow')
    backend = packageVersion('@tensorflow/tfjs-node-gpu') ? 'gpu' : 'node';
  let simd: boolean | null = null;
  let threads: number | null = null;
  let xnnpackThreads: number | null = null;
  if (tfjsBackend === 'wasm') {
    simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    xnnpackThreads = wasmThreadsCount();
    threads = wasmThreadsInUse;
  }
  const versions: Record<string, string> = {};
  for (const pkg of [
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-backend-cpu',
    '@tensorflow/tfjs-node',
    '@tensorflow/tfjs-node-gpu',
    '@tensorflow/tfjs-backend-webgl',
    '@tensorflow/tfjs-backend-webgpu',
  ]) {
    const v = packageVersion(pkg);
    if (v) versions[pkg] = v;
  }
  const [runtime, runtimeRelease] = runtimeVersion();
  versions[runtime] = runtimeRelease;
  return {
    backend,
    tfjsBackend,
    simd,
    threads,
    xnnpackThreads,
    threadsFallbackReason: tfjsBackend === 'wasm' ? wasmThreadsFallbackReason : null,
    simdKernels: tfjsBackend === 'wasm' ? (simdKernelsState()?.loaded ?? false) : null,
    simdKernelsFallbackReason: tfjsBackend === 'wasm' ? (simdKernelsState()?.reason ?? null) : null,
    simdKernelsVariant: tfjsBackend === 'wasm' ? (simdKernelsState()?.variant ?? null) : null,
    simdKernelThreads: tfjsBackend === 'wasm' ? simdKernelThreads() : null,
    versions,
  };
}
