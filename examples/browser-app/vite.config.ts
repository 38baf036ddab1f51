import { defineConfig } from 'vite';

// A static page: `npx vite build examples/browser-app` writes dist/, which any static server
// serves (relative URLs throughout). Run prepare-assets.mjs first: it fills public/.
// `vite preview` sends the two headers that make the page cross-origin isolated, so wasm runs
// threaded there; served without them the page computes on one thread.
const isolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export default defineConfig({
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096 },
  preview: { headers: isolation },
});
