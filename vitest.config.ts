import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Files run in parallel workers; each integration file gets its own database.
    pool: 'forks',
    // Most of a test's time is spent waiting: on the simulator's latency and rate windows, on
    // timers, on the child processes the crash and signal tests start. Vitest's default (one
    // worker less than the cores) runs the suite one file at a time on a 2-core machine; four
    // workers take it from about 260 s to about 80 s there, with the same results.
    maxWorkers: 4,
    // npm run test:coverage. Counts the product's code run inside the test workers; what runs in
    // the child processes some tests start (the CLI, the daemon under kill -9) is not counted.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'text', 'html'],
      reportsDirectory: 'coverage',
    },
  },
});
