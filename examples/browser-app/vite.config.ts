import { defineConfig } from 'vite';

// A static page: `npx vite build examples/browser-app` writes dist/, which any static server
// serves (relative URLs throughout). Run prepare-assets.mjs first: it fills public/.
export default defineConfig({
  base: './',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096 },
});
