import { randomUUID } from 'node:crypto';
import { createDb, type Db } from '@ceres/db';
import { QUEUE_NAMES, QueueClient } from '@ceres/queues';
import { PLATFORM_JOB_TYPES } from '../src/enqueue/platform-job-types';
import { sharedPostgres, sharedRedis, TEST_ENCRYPTION_KEYS, type PostgresPeer, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll } from 'vitest';
import type { RouteOptions } from 'fastify';
import { buildApp } from '../src/app';
import { loadApiConfig, type ApiConfig } from '../src/config';

export const TOKEN = 'test-token-0123456789abcdef';
export const OTHER_TOKEN = 'other-token-0123456789abcdef';
export const UNSUBSCRIBE_SECRET = 'test-unsubscribe-secret-0123456789';
/**
 * The variables every API needs besides its tokens. The pool connects lazily: tests that never touch
 * a campaign route never reach this address; the campaign tests pass a real DATABASE_URL.
 */
export const REQUIRED_ENV = { DATABASE_URL: 'postgres://ceres@127.0.0.1:1/unused', UNSUBSCRIBE_SECRET };
export const auth = (token = TOKEN) => ({ authorization: `Bearer ${token}` });

export interface TestApi {
  app: ReturnType<typeof buildApp>;
  queues: QueueClient;
  db: Db;
  config: ApiConfig;
  /** Every route as registered, via the onRoute hook. */
  routes: RouteOptions[];
  /** The JSON log lines written so far. */
  logs: Array<Record<string, unknown>>;
  /** Jobs in every queue of this app's prefix, whatever their state. */
  countJobs(): Promise<number>;
  close(): Promise<void>;
}

/** The API on a fresh REDIS_PREFIX of `redis`, so its queues start empty. */
export async function startApi(redis: Pick<RedisPeer, 'url'>, env: Record<string, string> = {}): Promise<TestApi> {
  const config = loadApiConfig({
    REDIS_URL: redis.url,
    REDIS_PREFIX: `t${randomUUID().slice(0, 8)}:`,
    API_TOKENS: `${TOKEN},${OTHER_TOKEN}`,
    JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    LOG_LEVEL: 'warn',
    ...REQUIRED_ENV,
    ...env,
  });
  const queues = new QueueClient({ config: config.queues, onWarning: () => {} });
  const db = createDb(config.databaseUrl);
  const routes: RouteOptions[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const app = buildApp({
    config,
    queues,
    db,
    onRoute: (route) => routes.push(route),
    logStream: { write: (line) => logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  await app.ready();
  await queues.ready();
  return {
    app,
    queues,
    db,
    config,
    routes,
    logs,
    async countJobs() {
      let total = 0;
      for (const name of QUEUE_NAMES) {
        const counts = await queues.getQueue(name).getJobCounts();
        total += Object.values(counts).reduce((sum, count) => sum + count, 0);
      }
      return total;
    },
    async close() {
      await app.close();
      await queues.close();
      await db.close();
    },
  };
}

export const verify = (userId = 'user-1') => ({
  userId,
  email: 'ana@example.com',
  firstName: 'Ana',
  token: 'abcdefghijklmnop1234',
});

/** One valid payload per platform job type. */
/** A valid payload of each API job type: the example its definition file carries. */
export const validPayloads: Record<string, Record<string, unknown>> = Object.fromEntries(
  PLATFORM_JOB_TYPES.map(({ type, definition }) => [type, definition.example as Record<string, unknown>]),
);

/**
 * Starts the API on the run's shared Redis (a prefix of its own) before the file's tests and
 * stops it after them. Read `ctx.api` and `ctx.redis` inside tests (set once the hooks have run).
 */
export function useTestApi(
  env: Record<string, string> = {},
  options: { postgres?: boolean } = {},
): { api: TestApi; redis: RedisPeer; postgres?: PostgresPeer } {
  const ctx = {} as { api: TestApi; redis: RedisPeer; postgres?: PostgresPeer };
  beforeAll(async () => {
    ctx.redis = sharedRedis();
    // With `postgres`: a database of the file's own, for the status of jobs Redis dropped (the job ledger).
    if (options.postgres) ctx.postgres = await sharedPostgres();
    ctx.api = await startApi(ctx.redis, ctx.postgres ? { DATABASE_URL: ctx.postgres.url, ...env } : env);
  });
  afterAll(async () => {
    await ctx.api?.close();
    await ctx.postgres?.close();
  });
  return ctx;
}
