// Issue 26: the API and the tenants (municipalities). A token of api_tokens belongs to a tenant:
// its jobs carry the tenant, the ids it sees are the ones it knows, and it reads no other tenant's
// job. Real Redis and PostgreSQL; the tokens are rows written as `ceres-jobs tokens create` writes them.
import { randomUUID } from 'node:crypto';
import { createDb, type Db } from '@ceres/db';
import { apiTokenHash, newApiToken, parseKeyring, TENANT_FIELD } from '@ceres/queues';
import {
  sharedPostgres,
  sharedRedis,
  startTcpProxy,
  TEST_ENCRYPTION_KEYS,
  testEncryptionKey,
  waitFor,
  type PostgresPeer,
  type RedisPeer,
} from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TENANT_TOKEN_PREFIX, TOKEN_REFRESH_MS } from '../src/auth/tenant-tokens';
import { auth, startApi, TOKEN, verify, type TestApi } from './helpers';

const keyring = parseKeyring(TEST_ENCRYPTION_KEYS);
/** Polling until a token is refused (or accepted) sends wrong tokens on purpose: hardening.test.ts tests the failure limit. */
const NO_FAILURE_LIMIT = { API_AUTH_FAILURE_LIMIT: '100000' };

let redis: RedisPeer;
let postgres: PostgresPeer;
let db: Db;
let api: TestApi;
const opened: TestApi[] = [];

/** A new token of `tenant`, stored as the CLI stores it (the keyed hash under the current key); returns the token and its row id. */
async function createToken(tenant: string, version = keyring.current): Promise<{ id: string; token: string }> {
  const id = `tok-${randomUUID().slice(0, 8)}`;
  const token = newApiToken();
  await db.apiTokens.insert({
    id,
    tenantId: tenant,
    name: `test ${tenant}`,
    keyVersion: version.version,
    tokenHash: apiTokenHash(version, token),
  });
  return { id, token };
}

let tokenA: string;
let tokenB: string;

beforeAll(async () => {
  redis = sharedRedis();
  postgres = await sharedPostgres();
  db = createDb(postgres.url);
  await db.tenants.add('a', { name: 'Tenant A' });
  await db.tenants.add('b', { name: 'Tenant B' });
  tokenA = (await createToken('a')).token;
  tokenB = (await createToken('b')).token;
  // Written before the API starts: its first read (at ready) has them.
  api = await startApi(redis, { DATABASE_URL: postgres.url, ...NO_FAILURE_LIMIT });
}, 60_000);

afterAll(async () => {
  for (const other of opened) await other.close();
  await api?.close();
  await db?.close();
  await postgres?.close();
});

const enqueue = (token: string, payload: Record<string, unknown>, url = '/jobs/email/verify') =>
  api.app.inject({ method: 'POST', url, headers: auth(token), payload });
const status = (token: string, queue: string, id: string, on: TestApi = api) =>
  on.app.inject({ method: 'GET', url: `/jobs/${queue}/${encodeURIComponent(id)}`, headers: auth(token) });

describe('tokens of a tenant', () => {
  it('a token of tenant a enqueues for a: $tenant and the scoped id in Redis, the id it knows in the answer', async () => {
    const response = await enqueue(tokenA, verify('user-123'));
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json()).toEqual({ jobId: 'email:verify:user-123', queue: 'email', job: 'verify', duplicate: false });
    const job = await api.queues.getQueue('email').getJob('a@email:verify:user-123');
    expect(job?.data[TENANT_FIELD]).toBe('a');
    expect(job?.name).toBe('verify');
  });

  it('an API_TOKENS token enqueues for default with the id of a single-tenant install, and no $tenant', async () => {
    const response = await enqueue(TOKEN, verify('user-123'));
    expect(response.statusCode, response.body).toBe(202);
    // a's job with the same key is another tenant's: not a duplicate.
    expect(response.json()).toEqual({ jobId: 'email:verify:user-123', queue: 'email', job: 'verify', duplicate: false });
    const job = await api.queues.getQueue('email').getJob('email:verify:user-123');
    expect(job).toBeDefined();
    expect(TENANT_FIELD in (job!.data as object)).toBe(false);
  });

  it('a batch of tenant a carries a, and answers the ids a knows', async () => {
    const response = await enqueue(tokenA, { items: [verify('batch-1'), verify('batch-2')] }, '/jobs/email/verify/batch');
    expect(response.statusCode, response.body).toBe(202);
    expect(response.json().items.map((item: { jobId: string }) => item.jobId)).toEqual(['email:verify:batch-1', 'email:verify:batch-2']);
    for (const key of ['batch-1', 'batch-2']) {
      const job = await api.queues.getQueue('email').getJob(`a@email:verify:${key}`);
      expect(job?.data[TENANT_FIELD], key).toBe('a');
    }
    expect(await api.queues.getQueue('email').getJob('email:verify:batch-1')).toBeUndefined();
  });

  it('duplicate windows are per tenant: the same key by a and by b is two jobs, twice by a is a duplicate', async () => {
    const byA = await enqueue(tokenA, verify('dup-1'));
    const byB = await enqueue(tokenB, verify('dup-1'));
    const againByA = await enqueue(tokenA, verify('dup-1'));
    expect([byA.json(), byB.json(), againByA.json()].map(({ jobId, duplicate }) => ({ jobId, duplicate }))).toEqual([
      { jobId: 'email:verify:dup-1', duplicate: false },
      { jobId: 'email:verify:dup-1', duplicate: false },
      { jobId: 'email:verify:dup-1', duplicate: true },
    ]);
    const queue = api.queues.getQueue('email');
    expect((await queue.getJob('a@email:verify:dup-1'))?.data[TENANT_FIELD]).toBe('a');
    expect((await queue.getJob('b@email:verify:dup-1'))?.data[TENANT_FIELD]).toBe('b');
  });

  it('a tenant of the tenants table that is disabled keeps its tokens: its jobs are accepted (and wait)', async () => {
    await db.tenants.add('c', { name: 'Tenant C' });
    const { token } = await createToken('c');
    await db.tenants.setDisabled('c', true);
    // Accepted once the next read has the token.
    const response = await waitFor(
      async () => {
        const answer = await enqueue(token, verify('disabled-1'));
        return answer.statusCode === 401 ? undefined : answer;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: "the disabled tenant's token" },
    );
    expect(response.statusCode, response.body).toBe(202);
    expect((await api.queues.getQueue('email').getJob('c@email:verify:disabled-1'))?.data[TENANT_FIELD]).toBe('c');
  });
});

describe('a tenant cannot act for another', () => {
  it.each([
    ['a tenant field', { ...verify('x-1'), tenant: 'b' }, '/jobs/email/verify', 'tenant'],
    ['a $tenant field', { ...verify('x-2'), [TENANT_FIELD]: 'b' }, '/jobs/email/verify', TENANT_FIELD],
    ['a tenant field beside the items of a batch', { items: [verify('x-3')], tenant: 'b' }, '/jobs/email/verify/batch', 'tenant'],
    // Named within its item, as every batch 400 is: `items: [{ index: 0, issues: [{ field: 'tenant' }] }]`.
    ['a tenant field in a batch item', { items: [{ ...verify('x-4'), tenant: 'b' }] }, '/jobs/email/verify/batch', 'tenant'],
  ])('refuses %s with a 400 naming it, and enqueues nothing', async (_, payload, url, field) => {
    const before = await api.countJobs();
    const response = await enqueue(tokenA, payload, url);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json().code).toBe('INVALID_BODY');
    expect(response.json().field).toBe(field);
    if ('items' in payload && !('tenant' in payload)) {
      expect(response.json().items).toEqual([{ index: 0, issues: [{ field, message: expect.stringContaining(field) }] }]);
    } else {
      expect(response.json().message).toContain(field);
    }
    expect(await api.countJobs()).toBe(before);
  });

  it("reads its own job's status by the id it knows, and another tenant's as a 404 exactly like an unknown id", async () => {
    expect((await enqueue(tokenB, verify('only-b'))).statusCode).toBe(202);
    const own = await status(tokenB, 'email', 'email:verify:only-b');
    expect(own.statusCode, own.body).toBe(200);
    expect(own.json()).toMatchObject({ jobId: 'email:verify:only-b', queue: 'email', job: 'verify' });

    const byA = await status(tokenA, 'email', 'email:verify:only-b');
    const byDefault = await status(TOKEN, 'email', 'email:verify:only-b');
    const unknown = await status(tokenB, 'email', 'email:verify:nobody');
    for (const response of [byA, byDefault]) {
      expect(response.statusCode).toBe(404);
      expect(response.body).toBe(JSON.stringify({ code: 'JOB_NOT_FOUND', message: 'no job "email:verify:only-b" in queue email' }));
    }
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toBe(byA.body.replace('only-b', 'nobody'));
    // The Redis id itself is not a way in either.
    const scoped = await status(tokenA, 'email', 'b@email:verify:only-b');
    expect(scoped.statusCode).toBe(404);
    expect(scoped.json().code).toBe('JOB_NOT_FOUND');
  });

  it("does not show another tenant's job by its BullMQ-numbered id (a job type without a key)", async () => {
    const accepted = await enqueue(tokenB, { text: 'no key' }, '/jobs/slack/alert');
    expect(accepted.statusCode, accepted.body).toBe(202);
    const id = accepted.json().jobId as string;
    expect(id).toMatch(/^[0-9]+$/);
    expect((await api.queues.getQueue('slack').getJob(id))?.data[TENANT_FIELD]).toBe('b');

    expect((await status(tokenB, 'slack', id)).statusCode).toBe(200);
    const notFound = (n: string) => JSON.stringify({ code: 'JOB_NOT_FOUND', message: `no job "${n}" in queue slack` });
    for (const token of [tokenA, TOKEN]) {
      const response = await status(token, 'slack', id);
      expect(response.statusCode).toBe(404);
      expect(response.body).toBe(notFound(id));
    }
    const unknown = await status(tokenA, 'slack', '987654321');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.body).toBe(notFound('987654321'));
  });
});

describe('revocation', () => {
  it('a revoked token is refused within 5 s by every API process, each with its own cache', async () => {
    const { id, token } = await createToken('a');
    const apis = [
      await startApi(redis, { DATABASE_URL: postgres.url, ...NO_FAILURE_LIMIT }),
      await startApi(redis, { DATABASE_URL: postgres.url, ...NO_FAILURE_LIMIT }),
    ];
    opened.push(...apis);
    // Both read the token at startup.
    for (const one of apis) expect((await status(token, 'email', 'email:verify:nobody', one)).statusCode).toBe(404);

    expect(await db.apiTokens.revoke(id)).toBe(true);
    const revokedAt = Date.now();
    const took = await Promise.all(
      apis.map(async (one) => {
        await waitFor(async () => (await status(token, 'email', 'email:verify:nobody', one)).statusCode === 401, {
          timeoutMs: 10_000,
          intervalMs: 50,
          what: 'the revoked token refused',
        });
        return Date.now() - revokedAt;
      }),
    );
    for (const ms of took) expect(ms).toBeLessThan(5_000);
    // The others still work.
    expect((await status(tokenA, 'email', 'email:verify:nobody', apis[0])).statusCode).toBe(404);
  });

  it('refuses a token hashed with a key version JOBS_ENCRYPTION_KEYS does not list, naming the token id only', async () => {
    const other = parseKeyring(testEncryptionKey('v9'));
    const { id, token } = await createToken('a', other.current);
    const fresh = await startApi(redis, { DATABASE_URL: postgres.url, ...NO_FAILURE_LIMIT });
    opened.push(fresh);
    expect((await status(token, 'email', 'email:verify:nobody', fresh)).statusCode).toBe(401);
    const warning = fresh.logs.find((line) => String(line.msg).includes(`API token ${id}`));
    expect(warning?.msg).toMatch(/key version "v9"/);
    expect(JSON.stringify(fresh.logs)).not.toContain(token);
  });
});

describe('PostgreSQL unreachable', () => {
  it('keeps the tokens read last when a read fails, and warns without any token or hash', async () => {
    const { token } = await createToken('a');
    const proxy = await startTcpProxy(postgres.port);
    const url = new URL(postgres.url);
    url.port = String(proxy.port);
    const cut = await startApi(redis, { DATABASE_URL: url.toString(), ...NO_FAILURE_LIMIT });
    opened.push(cut);
    // Jobs in Redis, so their status reads nothing from PostgreSQL (an id Redis lacks would ask the job ledger).
    const ofA = await cut.queues.enqueue('email/verify', verify('probe-a'), { tenant: 'a' });
    const ofDefault = await cut.queues.enqueue('email/verify', verify('probe-default'));
    const idOfA = ofA.jobId.slice('a@'.length);
    expect((await status(token, 'email', idOfA, cut)).statusCode).toBe(200);

    await proxy.close();
    await waitFor(() => cut.logs.some((line) => String(line.msg).startsWith('cannot read the API tokens from PostgreSQL')), {
      timeoutMs: TOKEN_REFRESH_MS * 5,
      what: 'the warning of a failed read',
    });
    expect((await status(token, 'email', idOfA, cut)).statusCode).toBe(200);
    expect((await status(TOKEN, 'email', ofDefault.jobId, cut)).statusCode).toBe(200);
    const text = JSON.stringify(cut.logs);
    expect(text).not.toContain(token);
    expect(text).not.toContain(apiTokenHash(keyring.current, token));
    expect(cut.logs.filter((line) => String(line.msg).startsWith('cannot read the API tokens')).length).toBe(1);
  });

  it('at startup: API_TOKENS work, a tenant token is a 503 until the first read, any other token a 401', async () => {
    // startApi's default DATABASE_URL is a port nothing listens on.
    const down = await startApi(redis, NO_FAILURE_LIMIT);
    opened.push(down);
    expect(newApiToken().startsWith(TENANT_TOKEN_PREFIX)).toBe(true);
    const tenantToken = await status(tokenA, 'email', 'email:verify:nobody', down);
    expect(tenantToken.statusCode).toBe(503);
    expect(tenantToken.json().code).toBe('DATABASE_UNAVAILABLE');
    expect((await status('wrong-token-0123456789abcdef', 'email', 'email:verify:nobody', down)).statusCode).toBe(401);
    // A job in Redis: its status reads nothing from PostgreSQL.
    const probe = await down.queues.enqueue('email/verify', verify('probe-down'));
    expect((await status(TOKEN, 'email', probe.jobId, down)).statusCode).toBe(200);
    expect(down.logs.some((line) => String(line.msg).includes('only API_TOKENS are accepted until it answers'))).toBe(true);
  });
});
