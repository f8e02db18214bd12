import { describe, expect, it } from 'vitest';
import { lintFiles, lintSnippet } from '../../../tests/support/lint-snippet';

/**
 * The boundaries are ESLint rules (eslint.config.mjs, `npm run lint`). This proves the rules bite:
 * each snippet is linted as if it were a file of the app, with the repository's own config.
 */
async function boundaryErrors(source: string, filePath: string): Promise<string[]> {
  return (await lintSnippet(source, filePath))
    .filter((message) => message.ruleId === 'no-restricted-imports' || message.ruleId === 'no-restricted-syntax')
    .map((message) => message.message);
}

describe('the API only enqueues, and the apps never import each other', () => {
  it.each([
    "import { Queue, Worker } from 'bullmq';",
    'import {\n  Worker as W,\n} from "bullmq";',
    "import * as bull from 'bullmq';",
    "const { Worker } = await import('bullmq');",
    "const bull = require('bullmq');",
    "export { Worker } from 'bullmq';",
    "import { runEmail } from '../../worker/src/processors/email';",
    "import { processors } from '@ceres/worker';",
    "import '../../../apps/worker/src/main';",
    "import { sendVerify } from './processors/email';",
    "import { buildApp } from '@ceres/queues-ui';",
    "import { QueueAdmin } from '../../queues-ui/src/admin/queue-admin';",
  ])('refuses %s in apps/api/src', async (source) => {
    expect(await boundaryErrors(source, 'apps/api/src/example.ts')).not.toEqual([]);
  });

  it('allows what producers use', async () => {
    const source =
      "import { Queue, type Job } from 'bullmq';\nimport { QueueClient } from '@ceres/queues';\nexport { Queue, QueueClient };\nexport type { Job };\n";
    expect(await boundaryErrors(source, 'apps/api/src/example.ts')).toEqual([]);
  });

  it.each([
    ['apps/worker/src/example.ts', "import { buildApp } from '../../api/src/app';"],
    ['apps/worker/src/example.ts', "import { QueueAdmin } from '@ceres/queues-ui';"],
    ['apps/queues-ui/src/example.ts', "import { createWorkerApp } from '../../worker/src/app';"],
    ['apps/queues-ui/tests/example.test.ts', "import { buildApp } from '../../api/src/app';"],
    ['apps/cli/src/example.ts', "import { buildApp } from '@ceres/api';"],
    ['apps/cli/src/example.ts', "import { QueueAdmin } from '../../queues-ui/src/admin/queue-admin';"],
    ['apps/cli/src/example.ts', "import { processors } from '../../worker/src/processors/catalog';"],
    ['apps/cli/src/example.ts', "import { runner } from '@ceres/worker/runner';"],
    ['apps/worker/src/example.ts', "import { program } from '@ceres/cli';"],
    ['apps/api/src/example.ts', "import { mask } from '../../cli/src/mask';"],
  ])('refuses another app in %s: %s', async (file, source) => {
    expect(await boundaryErrors(source, file)).not.toEqual([]);
  });

  it("lets the CLI import the worker's package entry only (its work command runs the worker)", async () => {
    expect(
      await boundaryErrors(
        "const { createWorkerApp } = await import('@ceres/worker');\nimport type { WorkerConfig } from '@ceres/worker';\nexport type { WorkerConfig };\nexport { createWorkerApp };\n",
        'apps/cli/src/example.ts',
      ),
    ).toEqual([]);
  });

  it('finds nothing to refuse in the repository as it is', async () => {
    const results = await lintFiles(['apps/*/src/**/*.ts']);
    const offenders = results.flatMap((result) =>
      result.messages
        .filter((message) => message.ruleId === 'no-restricted-imports' || message.ruleId === 'no-restricted-syntax')
        .map((message) => `${result.filePath}: ${message.message}`),
    );
    expect(results.length).toBeGreaterThan(30);
    expect(offenders).toEqual([]);
  });
});
