import { builtinModules } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * Every entry point a web page uses bundles for the browser with esbuild as it is: no stubs, no
 * externals, no `node:*` shims. esbuild with `platform: 'browser'` fails on any import of a Node
 * built-in that no package's `browser` field replaces; on top of that the test checks that no
 * hierglow module imports a built-in even through a `false` mapping (tfjs-core and
 * tfjs-backend-wasm map their own Node-guarded `require('fs')` and the like to `false`, which
 * is theirs to do), and that the packages' browser modules were the ones chosen.
 */

const here = dirname(fileURLToPath(import.meta.url));

/** The entries a page imports, and which of their modules must be the browser ones. */
const ENTRIES: { specifier: string; browserModules: string[] }[] = [
  { specifier: '@hierglow/random', browserModules: [] },
  { specifier: '@hierglow/flow-layers', browserModules: [] },
  {
    specifier: '@hierglow/backend-wasm',
    browserModules: [
      'node-packages.browser.js',
      'wasm-threads.browser.js',
      'simd-helper-thread.browser.js',
    ],
  },
  { specifier: '@hierglow/glow', browserModules: ['index.browser.js'] },
  { specifier: '@hierglow/datasets', browserModules: ['index.browser.js'] },
  { specifier: '@hierglow/anomaly-metrics', browserModules: [] },
  { specifier: '@hierglow/anomaly-metrics/metrics', browserModules: [] },
];

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

async function bundle(contents: string): Promise<{ code: string; metafile: Metafile }> {
  const result = await build({
    stdin: { contents, resolveDir: here, loader: 'js' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return { code: result.outputFiles[0]!.text, metafile: result.metafile };
}

/** Imports of Node built-ins (resolved, or disabled by a `browser` map) by hierglow modules. */
function hierglowBuiltinImports(metafile: Metafile): string[] {
  return Object.entries(metafile.inputs)
    .filter(([path]) => path.includes('/packages/'))
    .flatMap(([path, input]) =>
      input.imports
        .filter((i) => NODE_BUILTINS.has(i.path) || i.path.startsWith('(disabled):'))
        .map((i) => `${path} -> ${i.path}`),
    );
}

describe('browser bundles (esbuild --bundle --platform=browser)', () => {
  for (const { specifier, browserModules } of ENTRIES) {
    it(`${specifier} bundles with no Node built-in`, async () => {
      const { code, metafile } = await bundle(`export * from '${specifier}';`);
      const inputs = Object.keys(metafile.inputs);
      expect(inputs.filter((path) => NODE_BUILTINS.has(path))).toEqual([]);
      expect(hierglowBuiltinImports(metafile)).toEqual([]);
      for (const name of browserModules) {
        expect(
          inputs.some((path) => path.endsWith(`/${name}`)),
          `${name} in the bundle`,
        ).toBe(true);
      }
      expect(
        inputs.filter((path) =>
          /\/node-packages\.js$|\/wasm-threads\.js$|\/simd-helper-thread\.js$/.test(path),
        ),
      ).toEqual([]);
      console.log(`${specifier}: ${(code.length / 1024).toFixed(1)} KiB minified`);
    });
  }

  it("keeps glow's bijector registrations when a page imports only a model", async () => {
    // glow registers its model and NCHW-flatten bijectors with flow-layers on load; a wrong
    // `sideEffects` list lets a bundler drop them, and then deserialising a chain fails.
    const { code } = await bundle(
      "import { Glow } from '@hierglow/glow'; globalThis.glowClass = Glow;",
    );
    expect(code).toContain('HierglowModel');
    expect(code).toContain('FlattenNchw');
  });
});
