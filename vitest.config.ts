import { defineConfig } from 'vitest/config';

// One shared config; each package's `vitest run` picks it up through its own vitest.config.ts.
export default defineConfig({
  test: {
    projects: ['packages/*', 'examples', 'integration'],
  },
});
