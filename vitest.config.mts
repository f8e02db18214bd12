import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

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
    include: ['packages/*/tests/**/*.test.ts', 'apps/*/tests/**/*.test.ts', 'tests/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
