import { afterEach, describe, expect, it } from 'vitest';
import { selectBackend } from './backend.js';
import { BackendUnavailableError } from './errors.js';
import { SimdHelperThread } from './kernels/simd-helper-thread.browser.js';
import { decodeBase64 } from './kernels/simd-module.js';
import * as browserPackages from './node-packages.browser.js';
import * as browserThreads from './wasm-threads.browser.js';

/**
 * The browser counterparts of the Node-only modules (swapped in by bundlers through the
 * `browser` field), run here under Node with the page globals they read set by hand. The
 * bundling itself is tested in integration/test/browser-bundles.test.ts.
 */

const page = globalThis as { crossOriginIsolated?: boolean };
const realNavigator = Object.getOwnPropertyDescriptor(globalThis, 'navigator');

function setCores(hardwareConcurrency: number): void {
  Object.defineProperty(globalThis, 'navigator', {
    value: { hardwareConcurrency },
    configurable: true,
  });
}

afterEach(() => {
  delete page.crossOriginIsolated;
  if (realNavigator) Object.defineProperty(globalThis, 'navigator', realNavigator);
  else delete (globalThis as { navigator?: unknown }).navigator;
});

describe('wasm threads in a page', () => {
  it('uses threads only on a cross-origin isolated page', () => {
    setCores(6);
    expect(browserThreads.defaultWasmThreads()).toBe(1);
    expect(() => browserThreads.installWasmThreadShim(4)).toThrow(/not cross-origin isolated/);
    page.crossOriginIsolated = true;
    expect(browserThreads.defaultWasmThreads()).toBe(6);
    setCores(32);
    expect(browserThreads.defaultWasmThreads()).toBe(8);
    const shim = browserThreads.installWasmThreadShim(4);
    expect(() => {
      shim.restoreGlobals();
      shim.removeFiles();
    }).not.toThrow();
  });

  it("starts no helper thread for hierglow's kernels (a page's main thread may not block)", () => {
    expect(SimdHelperThread.start({}, {}, [])).toBeNull();
  });
});

describe('tfjs packages in a page', () => {
  it('has wasm and cpu bundled, with their versions', () => {
    expect(browserPackages.HOST_RUNTIME).toBe('browser');
    expect(
      typeof browserPackages.loadPackage<{ setWasmPaths: unknown }>('@tensorflow/tfjs-backend-wasm')
        .setWasmPaths,
    ).toBe('function');
    expect(browserPackages.packageVersion('@tensorflow/tfjs-backend-wasm')).toMatch(
      /^\d+\.\d+\.\d+/,
    );
    expect(browserPackages.packageVersion('@tensorflow/tfjs-node')).toBeUndefined();
    expect(() => browserPackages.loadPackage('@tensorflow/tfjs-node')).toThrow(
      expect.objectContaining({ code: 'MODULE_NOT_FOUND' }),
    );
    expect(browserPackages.environmentVariable('PATH')).toBeUndefined();
  });

  it('loads webgl as a lazy chunk and records its version; anything else is not found', async () => {
    const webgl = (await browserPackages.loadOptionalPackage('@tensorflow/tfjs-backend-webgl')) as {
      version_webgl: string;
    };
    expect(browserPackages.packageVersion('@tensorflow/tfjs-backend-webgl')).toBe(
      webgl.version_webgl,
    );
    await expect(browserPackages.loadOptionalPackage('@tensorflow/tfjs-node')).rejects.toThrow(
      expect.objectContaining({ code: 'MODULE_NOT_FOUND' }),
    );
  });
});

describe('SIMD module bytes', () => {
  it('decodes base64 with atob exactly as Buffer does', () => {
    const bytes = Uint8Array.from({ length: 259 }, (_, i) => (i * 37 + 11) & 0xff);
    const base64 = Buffer.from(bytes).toString('base64');
    expect(decodeBase64(base64)).toEqual(bytes);
  });
});

describe('browser backends under Node', () => {
  it('are reported unavailable with the reason and what to use instead', async () => {
    for (const name of ['webgl', 'webgpu']) {
      const attempt = selectBackend(name);
      await expect(attempt).rejects.toThrow(BackendUnavailableError);
      await expect(selectBackend(name)).rejects.toThrow(
        `Backend '${name}' is unavailable: it runs only in a web browser. Here use 'wasm' (default), 'cpu', 'node' or 'gpu'.`,
      );
    }
  });
});
