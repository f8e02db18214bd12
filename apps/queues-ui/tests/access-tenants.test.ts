// Issue 27: a tenant-scoped account sees and acts on its tenant's jobs only, through the admin API;
// Bull Board (every tenant's jobs, no filter within a queue) is refused to it. And erasure leaves
// nothing personal in the audit trail.
import { createDb, type Db } from '@ceres/db';
import { sharedPostgres, sharedRedis, waitFor, type PostgresPeer, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount, GOOD_AUTH, startStack, startWorker, type Stack, type TestAccount } from './helpers/stack';

let redis: RedisPeer;
let postgres: PostgresPeer;
let db: Db;
let stack: Stack;
let acmeOperator: TestAccount;
let acmeAdmin: TestAccount;

/** Text only the other tenants' jobs carry: no response to an acme account may contain it. */
const FOREIGN = 'not-for-acme';

beforeAll(async () => {
  redis = sharedRedis();
  postgres = await sharedPostgres();
  db = createDb(postgres.url, { maxConnections: 3 });
  for (const id of ['acme', 'zeta']) await db.tenants.add(id, { name: id });
  acmeOperator = await addAccount(db, 'acme-op', 'operator', 'acme');
  acmeAdmin = await addAccount(db, 'acme-admin', 'admin', 'acme');
  stack = await startStack(redis, { db });

  const later = { delay: 3_600_000 };
  await stack.client.enqueue('slack/alert', { text: 'acme numbered' }, { tenant: 'acme', ...later });
  await stack.client.enqueue('slack/alert', { text: 'acme keyed', dedupeKey: 'k1' }, { tenant: 'acme', ...later });
  await stack.client.enqueue('slack/alert', { text: `${FOREIGN} zeta`, dedupeKey: 'k1' }, { tenant: 'zeta', ...later });
  await stack.client.enqueue('slack/alert', { text: `${FOREIGN} default` }, later);
  // Failed jobs of three tenants, for the retry.
  const worker = startWorker(stack.config, 'slack', async () => {
    throw new Error('webhook down');
  });
  // Added as the producers store them (a scoped id, `$tenant` in the data), with one attempt.
  const slack = stack.client.getQueue('slack');
  await slack.add('alert', { $tenant: 'acme', text: 'acme failing' }, { jobId: 'acme@slack:alert:f1', attempts: 1 });
  await slack.add('alert', { $tenant: 'zeta', text: `${FOREIGN} failing` }, { jobId: 'zeta@slack:alert:f1', attempts: 1 });
  await slack.add('alert', { text: `${FOREIGN} failing default` }, { attempts: 1 });
  await waitFor(async () => (await stack.client.getQueue('slack').getFailedCount()) === 3, { what: 'three failed jobs' });
  await worker.close();
});

afterAll(async () => {
  await stack?.close();
  await db?.close();
  await postgres?.close();
});

const get = (url: string, account: TestAccount) => stack.app.inject({ method: 'GET', url, headers: account.headers });

describe('a tenant-scoped account', () => {
  it("lists and counts its tenant's jobs only", async () => {
    const delayed = await get('/api/queues/slack/jobs?state=delayed', acmeOperator);
    expect(delayed.statusCode).toBe(200);
    expect(
      delayed
        .json()
        .jobs.map((job: { data: { text: string } }) => job.data.text)
        .sort(),
    ).toEqual(['acme keyed', 'acme numbered']);
    expect(delayed.json().total).toBe(2);
    expect(delayed.body).not.toContain(FOREIGN);
    const failed = await get('/api/queues/slack/jobs?state=failed', acmeOperator);
    expect(failed.json().jobs.map((job: { id: string }) => job.id)).toEqual(['acme@slack:alert:f1']);
    expect(failed.body).not.toContain(FOREIGN);

    const stats = await get('/api/queues/slack/stats', acmeOperator);
    expect(stats.json().stats).toMatchObject({ delayed: 2, failed: 1, total: 3 });
    const all = await get('/api/queues/stats', acmeOperator);
    expect(all.json().queues.slack).toMatchObject({ delayed: 2, failed: 1, total: 3 });
    // The same routes unscoped see everyone's.
    expect((await stack.app.inject({ method: 'GET', url: '/api/queues/slack/stats', headers: GOOD_AUTH })).json().stats).toMatchObject({
      delayed: 4,
      failed: 3,
    });
  });

  it("retries its tenant's failed jobs only", async () => {
    const response = await stack.app.inject({ method: 'POST', url: '/api/queues/slack/retry', headers: acmeOperator.headers });
    expect(response.json()).toMatchObject({ retried: 1 });
    const slack = stack.client.getQueue('slack');
    expect(await slack.getJobState('acme@slack:alert:f1')).toBe('waiting');
    expect(await slack.getJobState('zeta@slack:alert:f1')).toBe('failed');
    expect(await slack.getFailedCount()).toBe(2);
    const [row] = await db.audit.page({ limit: 1 });
    expect(row).toMatchObject({ actor: 'account:acme-op', tenant: 'acme', action: 'job.retry', outcome: 'ok' });
  });

  it('is refused the routes that show or change every tenant’s jobs (403 TENANT_SCOPED_ACCOUNT)', async () => {
    for (const [method, url] of [
      ['POST', '/api/queues/slack/pause'],
      ['POST', '/api/queues/slack/resume'],
      ['POST', '/api/queues/slack/clean/failed'],
      ['GET', '/api/schedulers'],
      ['GET', '/metrics'],
    ] as const) {
      const response = await stack.app.inject({
        method,
        url,
        headers: acmeAdmin.headers,
        ...(method === 'POST' ? { payload: { gracePeriod: 0 } } : {}),
      });
      expect(response.statusCode, `${method} ${url}`).toBe(403);
      expect(response.json().code).toBe('TENANT_SCOPED_ACCOUNT');
      expect(response.body).not.toContain(FOREIGN);
    }
    expect(await stack.client.getQueue('slack').isPaused()).toBe(false);
  });

  it('is refused the whole of Bull Board, with a message pointing to the admin API', async () => {
    for (const url of [
      '/ui',
      '/ui/queue/slack',
      '/ui/api/queues?activeQueue=slack&status=delayed',
      '/ui/api/queues/slack/zeta@slack:alert:k1',
    ]) {
      const response = await get(url, acmeOperator);
      expect(response.statusCode, url).toBe(403);
      expect(response.json().code).toBe('TENANT_SCOPED_ACCOUNT');
      expect(response.json().message).toMatch(/admin API/);
      expect(response.body).not.toContain(FOREIGN);
    }
    const retry = await stack.app.inject({ method: 'PUT', url: '/ui/api/queues/slack/retry/failed', headers: acmeAdmin.headers });
    expect(retry.statusCode).toBe(403);
    expect(await stack.client.getQueue('slack').getFailedCount()).toBe(2);
  });

  it("reads its tenant's audit rows only, and erases its tenant's users only", async () => {
    await stack.app.inject({ method: 'POST', url: '/api/queues/slack/pause', headers: GOOD_AUTH });
    await stack.app.inject({ method: 'POST', url: '/api/queues/slack/resume', headers: GOOD_AUTH });
    const audit = await get('/api/audit', acmeAdmin);
    expect(audit.statusCode).toBe(200);
    const rows = audit.json().rows as Array<{ tenant: string | null }>;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((row) => row.tenant === 'acme')).toBe(true);
    const unscoped = await stack.app.inject({ method: 'GET', url: '/api/audit?action=queue.pause', headers: GOOD_AUTH });
    expect(unscoped.json().rows[0]).toMatchObject({ actor: 'bootstrap:ops', tenant: null });

    const foreign = await stack.app.inject({
      method: 'POST',
      url: '/api/erasure',
      headers: acmeAdmin.headers,
      payload: { userId: 'someone', tenant: 'zeta' },
    });
    expect(foreign.statusCode).toBe(403);
    expect(foreign.json().code).toBe('TENANT_SCOPED_ACCOUNT');
  });
});

describe('erasure and the audit trail', () => {
  it('records the erasure with nothing personal in any audit row', async () => {
    const userId = 'user-erase-7f3a';
    const address = 'erase.me.7f3a@example.org';
    await stack.client.enqueue('email/welcome', { userId, email: address, firstName: 'Erasmina' }, { delay: 3_600_000 });
    const response = await stack.app.inject({ method: 'POST', url: '/api/erasure', headers: GOOD_AUTH, payload: { userId } });
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json().jobs).toBe(1);
    const { rows } = await db.pool.query('SELECT * FROM audit_log');
    const erasure = rows.filter((row: { action: string }) => row.action === 'erasure');
    expect(erasure).toHaveLength(1);
    expect(erasure[0]).toMatchObject({ actor: 'bootstrap:ops', tenant_id: 'default', outcome: 'ok' });
    const everything = JSON.stringify(rows);
    for (const personal of [userId, address, 'Erasmina', 'erase.me']) expect(everything).not.toContain(personal);
    // Erasure does not touch the trail: the chain still verifies.
    expect((await db.audit.verify()).firstBroken).toBeNull();
  });
});
