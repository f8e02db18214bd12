// GET /api/jobs/search (issue 29): the job ledger, keyset-paginated, with the in-flight jobs of a
// key from Redis; masked; bad input → 400 naming the field; a tenant-scoped account sees its own.
import type { Db, LedgerRow } from '@ceres/db';
import { createDb } from '@ceres/db';
import { sharedPostgres, sharedRedis, waitFor, type PostgresPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAccount, GOOD_AUTH, startStack, type Stack } from './helpers/stack';

let postgres: PostgresPeer;
let db: Db;
let stack: Stack;

const at = (minute: number) => new Date(Date.UTC(2026, 11, 2, 9, minute));
const row = (over: Partial<LedgerRow> & Pick<LedgerRow, 'jobId' | 'finishedAt'>): LedgerRow => ({
  queue: 'email',
  jobType: 'welcome',
  tenant: 'default',
  keyField: 'userId',
  key: 'ui-u1',
  state: 'completed',
  enqueuedAt: new Date(over.finishedAt.getTime() - 2_000),
  startedAt: null,
  attempts: 1,
  result: null,
  error: null,
  ...over,
});

beforeAll(async () => {
  postgres = await sharedPostgres();
  db = createDb(postgres.url, { maxConnections: 3 });
  stack = await startStack(sharedRedis(), { db, accountsRefreshMs: 200 });
  await db.tenants.add('south', { name: 'South' });
  await db.jobLedger.insertMany([
    row({ jobId: 'email:welcome:ui-u1', finishedAt: at(1), result: '{"sent":true}' }),
    row({
      queue: 'files',
      jobType: 'validate-cv',
      jobId: '5',
      finishedAt: at(2),
      state: 'failed',
      error: 'cv of bob.ui@example.com: not found',
    }),
    row({ queue: 'newsletter', jobType: 'send', jobId: 'newsletter:send:c9.ui-u1', finishedAt: at(3) }),
    row({ jobId: 'south@email:welcome:ui-u1', tenant: 'south', finishedAt: at(4) }),
  ]);
});

afterAll(async () => {
  await stack?.close();
  await db?.close();
});

const search = (query: string, headers: Record<string, string> = GOOD_AUTH) =>
  stack.app.inject({ method: 'GET', url: `/api/jobs/search?${query}`, headers });

describe('GET /api/jobs/search', () => {
  it('pages through a key across queues and tenants with the cursor, and lists the in-flight job first', async () => {
    const waiting = await stack.client.enqueue('email/password-reset', {
      userId: 'ui-u1',
      email: 'ui@example.com',
      firstName: 'Uma',
      token: 'p6Vq2h9sLwX4mZcR8tYb1nKd3fGj7uQe5aHs0vWxYz2',
    });
    const first = await search('key=ui-u1&limit=3');
    expect(first.statusCode, first.body).toBe(200);
    const page = first.json();
    expect(page.jobs.map((job: { jobId: string }) => job.jobId)).toEqual(['south@email:welcome:ui-u1', 'newsletter:send:c9.ui-u1', '5']);
    expect(page.jobs[2].error).not.toContain('bob.ui@example.com');
    expect(page.inFlight).toEqual([
      expect.objectContaining({ source: 'redis', jobId: waiting.jobId, state: 'waiting', type: 'password-reset' }),
    ]);
    const next = await search(`key=ui-u1&limit=3&cursor=${page.nextCursor}`);
    expect(next.json()).toMatchObject({ jobs: [{ jobId: 'email:welcome:ui-u1', result: { sent: true } }], inFlight: [], nextCursor: null });
    // Filters.
    expect((await search('state=failed&error=NOT%20FOUND')).json().jobs).toHaveLength(1);
    expect((await search(`key=ui-u1&queue=email&until=${at(2).toISOString()}`)).json().jobs).toHaveLength(1);
    expect((await search('key=ui-u1&tenant=south')).json().jobs).toHaveLength(1);
  });

  it('answers 400 naming the bad field', async () => {
    for (const [query, field] of [
      ['state=lost', 'state'],
      ['cursor=zzz', 'cursor'],
      ['queue=nope', 'queue'],
      ['type=email/nope', 'type'],
      ['since=2026-12-02&until=2026-12-01', 'until'],
      ['since=yesterday', 'since'],
      ['limit=5000', 'limit'],
      ['state=delayed', 'state'],
    ]) {
      const response = await search(query!);
      expect(response.statusCode, query).toBe(400);
      expect(JSON.stringify(response.json()), query).toContain(field!);
    }
  });

  it("a tenant-scoped account finds its tenant's jobs only", async () => {
    const south = await addAccount(db, 'south-viewer', 'viewer', 'south');
    // The accounts are read again every 200 ms.
    const found = await waitFor(
      async () => {
        const response = await search('key=ui-u1', south.headers);
        return response.statusCode === 401 ? undefined : response;
      },
      { what: 'the account to be known' },
    );
    expect(found.statusCode, found.body).toBe(200);
    expect(found.json().jobs.map((job: { tenant: string }) => job.tenant)).toEqual(['south']);
    expect((await search('key=ui-u1&tenant=default', south.headers)).statusCode).toBe(400);
  });
});
