import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'scratch-dev/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Real QEMU processes are heavy on a 2-core machine: keep test files to a few workers.
    maxWorkers: 2,
    maxConcurrency: 4,
  },
});
