import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 20_000,
    hookTimeout: 60_000,
    // Two cores: keep worker count modest so loopback servers are not starved.
    maxWorkers: 2,
    // Type tests (test/types/*.test-d.ts) are checked by tsc, never run, alongside the suite:
    // the types a user leans on fail `npm test` as a wrong vector would.
    typecheck: {
      enabled: true,
      include: ['test/types/**/*.test-d.ts'],
      tsconfig: './tsconfig.json',
    },
  },
});
