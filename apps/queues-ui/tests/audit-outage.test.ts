// Issue 27, "no audit, no action": with PostgreSQL stopped, every mutating action answers 503
// AUDIT_UNAVAILABLE and changes nothing (admin API and Bull Board alike); reads keep working, for
// the bootstrap admin and for accounts read before the outage. A PostgreSQL of this file's own, so
// it can be stopped.
import { createDb, migrate, type Db } from '@ceres/db';
import { sharedRedis, startPostgresServer, waitFor, type PostgresServer, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount, GOOD_AUTH, startStack, startWorker, type Stack, type TestAccount } from './helpers/stack';

let redis: RedisPeer;
let postgres: PostgresServer;
let db: Db;
let stack: Stack;
let admin: TestAccount;
let failedId: string;

beforeAll(async () => {
  redis = sharedRedis();
  postgres = await startPostgresServer();
  await migrate(postgres.url);
  db = createDb(postgres.url, { maxConnections: 2 });
  admin = await addAccount(db, 'outage-admin', 'admin');
  stack = await startStack(redis, { db, accountsRefreshMs: 200 });
  const email = stack.client.getQueue('email');
  const worker = startWorker(stack.config, 'email', async () => {
    throw new Error('SMTP 550');
  });
  failedId = (await email.add('verify', { userId: 'u-outage' }, { attempts: 1 })).id!;
  await waitFor(async () => (await email.getJobState(failedId)) === 'failed', { what: 'the job to fail' });
  await worker.close();
  // The account's credentials verified (and cached) before the outage.
  expect((await stack.app.inject({ method: 'GET', url: '/api/queues/stats', headers: admin.headers })).statusCode).toBe(200);
  await postgres.stop();
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await db?.close();
  await postgres?.close();
});

describe('PostgreSQL stopped', () => {
  it.each([
    ['POST', '/api/queues/email/retry', undefined],
    ['POST', '/api/queues/email/pause', undefined],
    ['POST', '/api/queues/email/clean/failed', { gracePeriod: 0 }],
    ['POST', '/api/erasure', { userId: 'u-outage' }],
    ['PUT', '/ui/api/queues/email/retry/failed', undefined],
    ['PUT', '/ui/api/queues/email/pause', undefined],
    ['PUT', '/ui/api/queues/email/__id__/retry', undefined],
    ['PUT', '/ui/api/queues/email/__id__/clean', undefined],
  ] as const)('%s %s answers 503 AUDIT_UNAVAILABLE and does nothing', async (method, url, payload) => {
    for (const headers of [admin.headers, GOOD_AUTH]) {
      const response = await stack.app.inject({ method, url: url.replace('__id__', failedId), headers, ...(payload ? { payload } : {}) });
      expect(response.statusCode, response.body).toBe(503);
      expect(response.json().code).toBe('AUDIT_UNAVAILABLE');
    }
    const email = stack.client.getQueue('email');
    expect(await email.getJobState(failedId)).toBe('failed');
    expect(await email.isPaused()).toBe(false);
  });

  it('GET routes keep working, for the bootstrap admin and a cached account', async () => {
    for (const headers of [admin.headers, GOOD_AUTH]) {
      for (const url of ['/api/queues/stats', '/api/queues/email/jobs?state=failed', '/metrics', '/ui', '/ui/api/queues']) {
        const response = await stack.app.inject({ method: 'GET', url, headers });
        expect(response.statusCode, `${url}: ${response.body.slice(0, 200)}`).toBe(200);
      }
    }
    // The audit trail itself cannot be read.
    const audit = await stack.app.inject({ method: 'GET', url: '/api/audit', headers: GOOD_AUTH });
    expect(audit.statusCode).toBe(503);
    expect(audit.json().code).toBe('AUDIT_UNAVAILABLE');
  });

  it('once PostgreSQL is back, the action is done and recorded', async () => {
    await postgres.start();
    await waitFor(
      async () => (await stack.app.inject({ method: 'POST', url: '/api/queues/email/retry', headers: admin.headers })).statusCode === 200,
      { what: 'the retry to go through' },
    );
    expect(await stack.client.getQueue('email').getJobState(failedId)).not.toBe('failed');
    const [row] = await db.audit.page({ limit: 1 });
    expect(row).toMatchObject({
      actor: 'account:outage-admin',
      action: 'job.retry',
      target: { queue: 'email', state: 'failed' },
      outcome: 'ok',
    });
    // Only that action was recorded: the refused ones left no row.
    expect(await db.audit.page({ limit: 100 })).toHaveLength(1);
  }, 30_000);
});
