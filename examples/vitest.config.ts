import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { testTimeout: 300_000, pool: 'forks', include: ['test/**/*.test.ts'] },
});
