import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 120_000,
    setupFiles: ['test/helpers/yield-between-tests.ts'],
    // The end-to-end tests share one test server: run files one after another.
    fileParallelism: false,
  },
});
