import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { BackendUnavailableError, ConfigError } from './errors.js';
import './register-gradients.js';

/** Backends hierglow knows how to load. `wasm` is the default. */
export type BackendName = 'wasm' | 'cpu' | 'node' | 'gpu';
export const BACKEND_NAMES: readonly BackendName[] = ['wasm', 'cpu', 'node', 'gpu'];

/** The environment variable read by {@link selectBackend} when no name is given. */
export const BACKEND_ENV_VAR = 'HIERGLOW_BACKEND';

const require = createRequire(import.meta.url);

/** tfjs' own name for each backend once registered. */
const TFJS_NAME: Record<BackendName, string> = {
  wasm: 'wasm',
  cpu: 'cpu',
  node: 'tensorflow',
  gpu: 'tensorflow',
};

const OPTIONAL_PACKAGE: Partial<Record<BackendName, string>> = {
  node: '@tensorflow/tfjs-node',
  gpu: '@tensorflow/tfjs-node-gpu',
};

function parseBackendName(name: string): BackendName {
  const lower = name.trim().toLowerCase();
  if ((BACKEND_NAMES as readonly string[]).includes(lower)) return lower as BackendName;
  throw new ConfigError(
    `Unknown backend '${name}'. Choose one of: ${BACKEND_NAMES.join(', ')} (set with --backend or ${BACKEND_ENV_VAR}).`,
  );
}

/** Resolves the backend a caller asked for: the argument, else HIERGLOW_BACKEND, else wasm. */
export function resolveBackendName(name?: string): BackendName {
  const requested = name ?? process.env[BACKEND_ENV_VAR];
  return requested === undefined || requested === '' ? 'wasm' : parseBackendName(requested);
}

function loadBackendPackage(name: BackendName): void {
  if (name === 'wasm') {
    require('@tensorflow/tfjs-backend-wasm');
    return;
  }
  if (name === 'cpu') {
    require('@tensorflow/tfjs-backend-cpu');
    return;
  }
  const pkg = OPTIONAL_PACKAGE[name]!;
  try {
    // Lazy: these packages download libtensorflow at install time, which fails on machines
    // without general internet access, so they are never part of the default install.
    require(pkg);
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    const why =
      code === 'MODULE_NOT_FOUND'
        ? `${pkg} is not installed`
        : `${pkg} failed to load (${(cause as Error).message})`;
    throw new BackendUnavailableError(
      `Backend '${name}' is unavailable: ${why}. Install it with \`npm install ${pkg}@4.22.0\`. ` +
        `It is not in hierglow's default install because its install step downloads libtensorflow ` +
        `from outside the npm registry${name === 'gpu' ? ' and needs CUDA' : ''}. ` +
        `The 'wasm' (default) and 'cpu' backends need nothing extra.`,
      { cause },
    );
  }
}

/**
 * Loads and activates a tfjs backend. With no argument, reads `HIERGLOW_BACKEND`, defaulting
 * to `wasm`. Optional backends (`node`, `gpu`) are imported lazily; a missing one raises a
 * {@link BackendUnavailableError} that says what to install.
 *
 * @example
 * await selectBackend('cpu');
 */
export async function selectBackend(name?: string): Promise<BackendInfo> {
  const backend = resolveBackendName(name);
  loadBackendPackage(backend);
  const ok = await tf.setBackend(TFJS_NAME[backend]);
  if (!ok) {
    throw new BackendUnavailableError(
      `Backend '${backend}' was found but failed to initialise (tf.setBackend returned false).`,
    );
  }
  await tf.ready();
  if (backend === 'cpu') {
    // The cpu backend prints a banner recommending tfjs-node on first use; hierglow users chose
    // cpu on purpose (tests, tiny models), and the banner would corrupt CLI output.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
  return backendInfo();
}

/** What is running now: backend, SIMD, threads and the versions of the tfjs packages. */
export interface BackendInfo {
  /** hierglow's name for the active backend, or tfjs' name when it is not one of ours. */
  backend: BackendName | string;
  /** tfjs' registered name for the backend. */
  tfjsBackend: string;
  /** wasm only: whether the SIMD binary is in use. */
  simd: boolean | null;
  /** wasm only: number of threads of the wasm thread pool (1 = single-threaded). */
  threads: number | null;
  versions: Record<string, string>;
}

function packageVersion(pkg: string): string | undefined {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return undefined;
  }
}

export function backendInfo(): BackendInfo {
  const tfjsBackend = tf.getBackend();
  const ours = (Object.keys(TFJS_NAME) as BackendName[]).find((k) => TFJS_NAME[k] === tfjsBackend);
  let backend: string = ours ?? tfjsBackend;
  if (tfjsBackend === 'tensorflow') backend = packageVersion('@tensorflow/tfjs-node-gpu') ? 'gpu' : 'node';
  let simd: boolean | null = null;
  let threads: number | null = null;
  if (tfjsBackend === 'wasm') {
    simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    const wasm = require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount(): number };
    threads = wasm.getThreadsCount();
  }
  const versions: Record<string, string> = {};
  for (const pkg of [
    '@tensorflow/tfjs-core',
    '@tensorflow/tfjs-backend-wasm',
    '@tensorflow/tfjs-backend-cpu',
    '@tensorflow/tfjs-node',
    '@tensorflow/tfjs-node-gpu',
  ]) {
    const v = packageVersion(pkg);
    if (v) versions[pkg] = v;
  }
  versions.node = process.versions.node;
  return { backend, tfjsBackend, simd, threads, versions };
}
