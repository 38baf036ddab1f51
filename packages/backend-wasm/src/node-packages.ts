import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';

/**
 * Node-only: loading the tfjs backend packages, reading their versions and the environment.
 * Kept apart from backend.ts so that bundlers for the browser swap in node-packages.browser.ts
 * (the `browser` field of package.json) without touching backend selection.
 */
const require = createRequire(import.meta.url);

/** `require(name)`: the tfjs backend packages are CommonJS and register themselves on load. */
export function loadPackage<T = unknown>(name: string): T {
  return require(name) as T;
}

/**
 * Loads an optional backend package; a missing one rejects with `code: 'MODULE_NOT_FOUND'`.
 * Async because in the browser these are lazy chunks (node-packages.browser.ts).
 */
export async function loadOptionalPackage(name: string): Promise<unknown> {
  return loadPackage(name);
}

/** Where this code runs: backends of the other runtime are reported unavailable. */
export const HOST_RUNTIME: 'node' | 'browser' = 'node';

/** An environment variable, or undefined. */
export function environmentVariable(name: string): string | undefined {
  return process.env[name];
}

/**
 * Turns on V8's relaxed-SIMD support where it sits behind a flag (Node 20's V8 11.3:
 * `--experimental-wasm-relaxed-simd`; V8 11.4 and later, Node 22, have it on by default), so
 * that the fused multiply-add kernels run without the user passing a Node flag. Called only
 * when the runtime does not validate relaxed SIMD and `HIERGLOW_RELAXED_SIMD` is not `0`; the
 * flag enables one wasm feature for the process and changes nothing else. Returns whether it
 * could try (the caller probes again to learn whether it worked).
 */
export function enableRuntimeRelaxedSimd(): boolean {
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
    return true;
  } catch {
    return false;
  }
}

/** The runtime's name and version for `backendInfo().versions`. */
export function runtimeVersion(): [string, string] {
  return ['node', process.versions.node];
}

/** The installed version of `pkg`, or undefined when it is not installed. */
export function packageVersion(pkg: string): string | undefined {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return undefined;
  }
}

type ProcessEvent = 'uncaughtException' | 'unhandledRejection';
const PROCESS_EVENTS: readonly ProcessEvent[] = ['uncaughtException', 'unhandledRejection'];

/**
 * Runs `init` (a wasm backend's initialisation) and then removes the `uncaughtException` and
 * `unhandledRejection` listeners it added to `process`.
 *
 * Why: Emscripten's Node glue adds listeners that rethrow every error that is not its own
 * `ExitStatus`. Rethrowing inside an `uncaughtException` listener makes Node abort with exit
 * code 7 ("internal exception handler failure") instead of 1, without running `exit` listeners,
 * so any error in user code after `selectBackend` looked like a crash of hierglow and left
 * temporary files behind. tfjs never calls `exit` from wasm, so the listeners have nothing to do;
 * tfjs itself removes them only when the module is disposed.
 */
export async function withoutAddedExitListeners<T>(init: () => Promise<T>): Promise<T> {
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(PROCESS_EVENTS.map((e) => [e, new Set(emitter.listeners(e))]));
  try {
    return await init();
  } finally {
    for (const event of PROCESS_EVENTS) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)!.has(listener)) {
          emitter.removeListener(event, listener as (...args: unknown[]) => void);
        }
      }
    }
  }
}
