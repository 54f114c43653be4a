import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` runs anywhere without root; `integration` needs root
 * and runs inside the sandbox host made by tests/harness/sandbox.sh.
 * Namespace state is per thread, so both use the forks pool.
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['native/test/**/*.test.ts', 'packages/*/test/**/*.test.ts', 'scripts/test/**/*.test.ts'],
          pool: 'forks',
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/**/*.test.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          globalSetup: ['tests/harness/global-setup.ts'],
        },
      },
    ],
  },
});
