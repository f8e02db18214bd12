import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

const ALL = ['packages/*/tests/**/*.test.ts', 'apps/*/tests/**/*.test.ts', 'tests/**/*.test.ts'];

/**
 * The `unit` project: files that start nothing (no server, no child process, no listening socket),
 * run by `npm run test:unit`. Everything else is `integration`, which shares one Redis and one
 * PostgreSQL per run (tests/setup/global-servers.ts).
 */
const UNIT = [
  'apps/api/tests/body-validator.test.ts',
  'apps/api/tests/boundaries.test.ts',
  'apps/queues-ui/tests/config.test.ts',
  'apps/worker/tests/breaker-outcome.test.ts',
  'apps/queues-ui/tests/long-wait.test.ts',
  'apps/worker/tests/job-due.test.ts',
  'apps/worker/tests/ledger-rows.test.ts',
  'apps/worker/tests/redis-outage.test.ts',
  'apps/worker/tests/runner-pipeline.test.ts',
  'apps/worker/tests/unsubscribe-secret.test.ts',
  'packages/app-kit/tests/auth-failures.test.ts',
  'packages/app-kit/tests/env.test.ts',
  'packages/app-kit/tests/newsletter.test.ts',
  'packages/app-kit/tests/tracing.test.ts',
  'packages/http/tests/http.test.ts',
  'packages/queues/tests/config.test.ts',
  'packages/queues/tests/job-id.test.ts',
  'packages/queues/tests/job-timings-math.test.ts',
  'packages/queues/tests/rate-limit.test.ts',
  'packages/queues/tests/replica-count.test.ts',
  'packages/queues/tests/cluster-keys.test.ts',
  'packages/queues/tests/reserved-keys.test.ts',
  'packages/queues/tests/retry.test.ts',
  'packages/queues/tests/schemas.test.ts',
  'packages/queues/tests/tenant.test.ts',
  'tests/local-encryption-key.test.ts',
  'tests/no-fixed-waits.test.ts',
];

export default defineConfig({
  resolve: {
    // Tests run against the TypeScript sources of the workspace packages, no build needed.
    alias: {
      '@ceres/app-kit': here('./packages/app-kit/src/index.ts'),
      '@ceres/http': here('./packages/http/src/index.ts'),
      '@ceres/queues': here('./packages/queues/src/index.ts'),
      '@ceres/testing': here('./packages/testing/src/index.ts'),
      '@ceres/db': here('./packages/db/src/index.ts'),
      '@ceres/worker': here('./apps/worker/src/index.ts'),
    },
  },
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Vitest's default on 2 cores is one file at a time; the integration files mostly wait (on
    // servers, child processes, timers), so three at once keep both cores busy. `--maxWorkers=N` overrides.
    maxWorkers: 3,
    // Files share their worker process (and its loaded modules) instead of a fresh one each: the
    // fresh imports cost about 70 s of the run's 5 min of CPU. Each file cleans up what it starts
    // and restores what it changes in process.env or on globals.
    isolate: false,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ALL,
          exclude: [...configDefaults.exclude, ...UNIT],
          globalSetup: ['tests/setup/global-servers.ts'],
        },
      },
    ],
  },
});
