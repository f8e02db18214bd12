import { randomUUID } from 'node:crypto';
import { hashPassword, newPassword, type Role } from '@ceres/app-kit';
import type { Db } from '@ceres/db';
import { createRedisConnection, loadQueuesConfig, QueueClient, workerSettings, type QueueName, type QueuesConfig } from '@ceres/queues';
import { TEST_ENCRYPTION_KEYS, type RedisPeer } from '@ceres/testing';
import { MetricsTime, Worker, type Job } from 'bullmq';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { buildApp } from '../../src/app';

export const AUTH = { user: 'ops', pass: 'correct horse battery staple' };

export const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
export const GOOD_AUTH = { authorization: basic(AUTH.user, AUTH.pass) };

/** Queues of their own for each test: a fresh REDIS_PREFIX on the file's Redis. */
export function freshConfig(redis: Pick<RedisPeer, 'url'>): QueuesConfig {
  return loadQueuesConfig({
    REDIS_URL: redis.url,
    REDIS_PREFIX: `t${randomUUID().slice(0, 8)}:`,
    JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
  });
}

export interface Stack {
  app: FastifyInstance;
  client: QueueClient;
  config: QueuesConfig;
  close(): Promise<void>;
}

/** The app over a fresh prefix, ready for `inject` (listening only when `listen` is set). */
export async function startStack(
  redis: Pick<RedisPeer, 'url'>,
  options: {
    onRoute?: (route: RouteOptions) => void;
    publicBasePath?: string;
    redisTimeoutMs?: number;
    authFailures?: { max: number; windowMs: number };
    tenantMetrics?: { maxTenants: number; scanMs: number };
    /** PostgreSQL: operator accounts, the audit trail, erasure and the job search. */
    db?: Db;
    accountsRefreshMs?: number;
  } = {},
): Promise<Stack> {
  const config = freshConfig(redis);
  const client = new QueueClient({ config, connectionName: 'queues-ui-test', onWarning: () => {} });
  await client.ready();
  const { db, accountsRefreshMs, ...rest } = options;
  const app = buildApp({
    client,
    auth: AUTH,
    ...rest,
    ...(db ? { erasureDb: db, jobSearchDb: db, access: { accounts: db.accounts, audit: db.audit, refreshMs: accountsRefreshMs } } : {}),
  });
  await app.ready();
  return {
    app,
    client,
    config,
    close: async () => {
      await app.close();
      await client.close();
    },
  };
}

export interface TestWorker {
  worker: Worker;
  processed: string[];
  close(): Promise<void>;
}

/**
 * A real BullMQ Worker the way the worker app builds one (`...workerSettings`, BullMQ metrics on).
 * The queues-ui itself never creates one: tests use it to move jobs to completed/failed/active.
 */
export function startWorker(
  config: QueuesConfig,
  queue: QueueName,
  processor: (job: Job) => Promise<unknown>,
  concurrency = 1,
): TestWorker {
  const connection = createRedisConnection(config, 'worker', { connectionName: 'queues-ui-test-worker', onWarning: () => {} });
  const processed: string[] = [];
  const worker = new Worker(
    queue,
    async (job) => {
      processed.push(job.id!);
      return processor(job);
    },
    {
      ...workerSettings,
      connection,
      prefix: config.bullPrefix,
      concurrency,
      metrics: { maxDataPoints: MetricsTime.ONE_HOUR },
    },
  );
  worker.on('error', () => {});
  return {
    worker,
    processed,
    close: async () => {
      await worker.close(true);
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}

/** A promise with its resolve function, to hold a job active until the test lets it go. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

export interface TestAccount {
  name: string;
  password: string;
  headers: { authorization: string };
}

/** Adds an operator account with a fresh password (as `ceres-jobs users add` does). */
export async function addAccount(db: Pick<Db, 'accounts'>, name: string, role: Role, tenant: string | null = null): Promise<TestAccount> {
  const password = newPassword();
  if (!(await db.accounts.add({ name, role, tenant, passwordHash: await hashPassword(password) })))
    throw new Error(`account ${name} exists`);
  return { name, password, headers: { authorization: basic(name, password) } };
}
