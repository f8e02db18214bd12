// The conventions of issue 25 (item 3), enforced: the ESLint rules of eslint.config.mjs's
// conventions block bite, and what a rule cannot see is checked here.
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as http from '@ceres/http';
import { ALERT_QUEUE, NO_COMPLETED_RETRIES, QUEUE_NAMES, registry, type QueueDefinition } from '@ceres/queues';
import { basicAuthPlugin, definePlugin, pluginMeta } from '@ceres/http';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { lintSnippet } from './support/lint-snippet';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The `ceres/*` rules a snippet breaks, linted as if it were `filePath`. */
async function broken(source: string, filePath: string): Promise<string[]> {
  return (await lintSnippet(source, filePath)).filter((message) => message.ruleId?.startsWith('ceres/')).map((message) => message.ruleId!);
}

describe('the conventions rules bite', () => {
  it.each([
    [
      'ceres/one-invalid-body',
      'apps/api/src/example.ts',
      "import { HttpError } from '@ceres/http';\nexport const e = new HttpError('INVALID_BODY', 'bad');\n",
    ],
    [
      'ceres/error-bodies-through-http',
      'apps/queues-ui/src/plugins/example.ts',
      "export const f = (reply: any) => reply.code(403).send({ code: 'ADD_JOB_DISABLED', message: 'no' });\n",
    ],
    [
      'ceres/error-bodies-through-http',
      'apps/queues-ui/src/plugins/example.ts',
      'export const f = (reply: any, error: any) => reply.code(error.statusCode).send(error.body);\n',
    ],
    [
      'ceres/error-bodies-through-http',
      'packages/http/src/example.ts',
      "export const f = (reply: any) => reply.code(404).send({ code: 'NOT_FOUND', message: 'no route' });\n",
    ],
    [
      'ceres/one-plugin-style',
      'apps/api/src/plugins/example.ts',
      "import fp from 'fastify-plugin';\nexport const p = fp(async () => {}, { name: 'x' });\n",
    ],
    [
      'ceres/one-plugin-style',
      'apps/queues-ui/src/plugins/example.ts',
      "import type { FastifyInstance } from 'fastify';\nexport function installThing(app: FastifyInstance): void {\n  app.addHook('onRequest', async () => {});\n}\n",
    ],
    [
      'ceres/settings-through-schema',
      'apps/cli/src/example.ts',
      "import { parseEnv } from 'node:util';\nexport const env = parseEnv('A=1');\n",
    ],
    [
      'ceres/settings-through-schema',
      'apps/cli/src/example.ts',
      "export const level = (ctx: { env: Record<string, string> }) => ctx.env.LOG_LEVEL ?? 'info';\n",
    ],
    [
      'ceres/database-url-setting',
      'apps/worker/src/example.ts',
      "import { databaseUrlFromEnv } from '@ceres/db';\nexport const url = databaseUrlFromEnv();\n",
    ],
    [
      'ceres/queue-policy-in-definitions',
      'apps/worker/src/example.ts',
      "import type { QueueName } from '@ceres/queues';\nexport const ALERTS: QueueName = 'slack';\n",
    ],
    [
      'ceres/queue-policy-in-definitions',
      'apps/queues-ui/src/example.ts',
      "import type { QueueName } from '@ceres/queues';\nexport const NO_RETRY: ReadonlySet<QueueName> = new Set<QueueName>(['email']);\n",
    ],
    ['ceres/one-lifecycle', 'apps/api/src/main.ts', "process.on('SIGTERM', () => process.exit(0));\n"],
    ['ceres/one-lifecycle', 'apps/queues-ui/src/main.ts', "process.once('SIGINT', () => process.exit(0));\n"],
  ])('%s refuses, in %s: %s', async (rule, file, source) => {
    expect(await broken(source, file)).toContain(rule);
  });

  it('lets the conventional forms through', async () => {
    const source = [
      "import { definePlugin, HttpError, invalidBody, sendError } from '@ceres/http';",
      "export const e = invalidBody('invalid body: a is required', [{ field: 'a', message: 'a is required' }]);",
      "export const p = definePlugin({ name: '@ceres/api/example', dependencies: [] }, async (app) => {",
      "  app.addHook('onRequest', async (_request, reply) => sendError(reply, new HttpError('NOT_FOUND', 'no')));",
      '});',
      // Route plugins stay plain, encapsulated plugins; they are registered, not called.
      "export async function exampleRoutes(app: import('fastify').FastifyInstance) { app.get('/x', async () => ({ ok: true })); }",
      '',
    ].join('\n');
    expect(await broken(source, 'apps/api/src/plugins/example.ts')).toEqual([]);
  });
});

/** Every module under apps/<app>/src/plugins. */
const APP_PLUGIN_FILES = ['api', 'queues-ui'].flatMap((app) =>
  readdirSync(`${ROOT}/apps/${app}/src/plugins`)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => [app, `apps/${app}/src/plugins/${file}`] as const),
);

describe('one plugin style', () => {
  it.each(APP_PLUGIN_FILES)('every plugin %s exports from %s is named after it and declares its dependencies', async (app, file) => {
    const module = (await import(pathToFileURL(`${ROOT}/${file}`).href)) as Record<string, unknown>;
    const plugins = Object.entries(module).filter(([name]) => name.endsWith('Plugin'));
    expect(plugins.length).toBeGreaterThan(0);
    for (const [name, plugin] of plugins) {
      const meta = pluginMeta(plugin);
      expect(meta?.name, name).toMatch(new RegExp(`^@ceres/${app}/[a-z-]+$`));
      expect(Array.isArray(meta?.dependencies), name).toBe(true);
    }
    // Nothing else of a plugins folder takes the app: no addX(app) beside the plugins.
    for (const [name, value] of Object.entries(module)) {
      if (typeof value === 'function' && !name.endsWith('Plugin')) expect(pluginMeta(value), name).toBeUndefined();
    }
  });

  it('every plugin of @ceres/http is one, named @ceres/http/…', () => {
    const plugins = Object.entries(http).filter(([name]) => name.endsWith('Plugin') && name !== 'definePlugin');
    expect(plugins.length).toBeGreaterThanOrEqual(6);
    for (const [name, plugin] of plugins) {
      expect(pluginMeta(plugin)?.name, name).toMatch(/^@ceres\/http\/[a-z-]+$/);
      expect(Array.isArray(pluginMeta(plugin)?.dependencies), name).toBe(true);
    }
  });

  it('Fastify refuses a plugin registered before what it depends on (the order is checked, not commented)', async () => {
    const guard = definePlugin({ name: '@ceres/test/guard', dependencies: ['@ceres/http/basic-auth'] }, async () => {});
    const auth = { user: 'admin', pass: 'a-long-enough-password', failures: { max: 5, windowMs: 60_000 } };

    const wrong = Fastify();
    wrong.register(guard);
    wrong.register(basicAuthPlugin, auth);
    await expect(wrong.ready()).rejects.toThrow(/basic-auth/);
    await wrong.close().catch(() => {});

    const right = Fastify();
    right.register(basicAuthPlugin, auth);
    right.register(guard);
    await expect(right.ready()).resolves.toBeDefined();
    await right.close();
  });
});

describe('queue-level policy is declared on the queues', () => {
  it('exactly one queue carries the alerts, and it has the alert job type', () => {
    const carriers = QUEUE_NAMES.filter((queue) => (registry[queue] as QueueDefinition).carriesAlerts);
    expect(carriers).toEqual([ALERT_QUEUE]);
    expect(Object.keys(registry[ALERT_QUEUE].jobs)).toContain('alert');
  });

  it('the queues whose completed jobs must not run again are those whose queue.ts says so (email: a re-run re-sends its mail)', () => {
    expect([...NO_COMPLETED_RETRIES]).toEqual(QUEUE_NAMES.filter((queue) => (registry[queue] as QueueDefinition).retryCompleted === false));
    expect(NO_COMPLETED_RETRIES.has('email')).toBe(true);
  });
});
