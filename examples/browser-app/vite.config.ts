import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// A static page: `npx vite build examples/browser-app` writes it into the CLI package's
// browser-app/ folder, which `hierglow serve` serves (relative URLs throughout, so any static
// server does too). Run prepare-assets.mjs first: it fills public/.
// Both servers send the two headers that make the page cross-origin isolated, so wasm runs
// threaded there; served without them the page computes on one thread.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  base: './',
  build: {
    outDir: fileURLToPath(new URL('../../packages/cli/browser-app', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
  },
  preview: { headers: isolation },
});
