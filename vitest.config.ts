import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The stores freeze every record they hold (src/server/store/freeze.ts): a change in place fails the suite.
    env: { BOS_FREEZE_RECORDS: '1' },
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: keep parallelism modest so loopback servers and redis-server are not starved.
    maxWorkers: 2,
  },
});
