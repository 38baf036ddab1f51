import { defineConfig } from 'vitest/config';

/** Shared vitest settings for every workspace package. Tensor-heavy tests are slow on 2 cores. */
export const sharedTestConfig = defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
  },
});
