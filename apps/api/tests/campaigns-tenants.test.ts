// Issue 26: a newsletter campaign is the tenant's whose token created it. Another tenant's token
// is answered as for an unknown campaign on every route, and an opt-out is the tenant's.
// Real Redis and PostgreSQL; tokens are api_tokens rows as `ceres-jobs tokens create` writes them.
import { randomUUID } from 'node:crypto';
import { signUnsubscribeToken } from '@ceres/app-kit';
import { createDb, type Db } from '@ceres/db';
import { apiTokenHash, newApiToken, parseKeyring, TENANT_FIELD } from '@ceres/queues';
import { sharedPostgres, sharedRedis, TEST_ENCRYPTION_KEYS, type PostgresPeer, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApi, UNSUBSCRIBE_SECRET, type TestApi } from './helpers';

const keyring = parseKeyring(TEST_ENCRYPTION_KEYS);
let redis: RedisPeer;
let postgres: PostgresPeer;
let db: Db;
let api: TestApi;
let tokenA: string;
let tokenB: string;

async function createToken(tenant: string): Promise<string> {
  const token = newApiToken();
  await db.apiTokens.insert({
    id: `tok-${randomUUID().slice(0, 8)}`,
    tenantId: tenant,
    name: `test ${tenant}`,
    keyVersion: keyring.current.version,
    tokenHash: apiTokenHash(keyring.current, token),
    scopes: ['campaigns'],
  });
  return token;
}

beforeAll(async () => {
  redis = sharedRedis();
  postgres = await sharedPostgres();
  db = createDb(postgres.url);
  await db.tenants.add('a', { name: 'Tenant A' });
  await db.tenants.add('b', { name: 'Tenant B' });
  tokenA = await createToken('a');
  tokenB = await createToken('b');
  api = await startApi(redis, { DATABASE_URL: postgres.url });
}, 60_000);

afterAll(async () => {
  await api?.close();
  await db?.close();
  await postgres?.close();
});

const call = (token: string | undefined, method: 'GET' | 'POST', url: string, payload?: Record<string, unknown>) =>
  api.app.inject({ method, url, headers: auth(token), ...(payload === undefined ? {} : { payload }) });

async function campaignOf(token: string | undefined): Promise<string> {
  const response = await call(token, 'POST', '/campaigns', { subject: 'Hola {{firstName}}', text: 'Texto {{unsubscribeUrl}}' });
  expect(response.statusCode, response.body).toBe(201);
  return response.json().campaignId as string;
}

const ROUTES = [
  ['GET', (id: string) => `/campaigns/${id}`, undefined],
  ['POST', (id: string) => `/campaigns/${id}/recipients`, { recipients: [{ userId: 'u-1', email: 'u1@example.com', firstName: 'U' }] }],
  ['POST', (id: string) => `/campaigns/${id}/start`, undefined],
  ['POST', (id: string) => `/campaigns/${id}/cancel`, undefined],
] as const;

describe('campaigns of a tenant (issue 26)', () => {
  it("another tenant's token gets 404 on every route, with the body of an unknown campaign; the campaign is untouched", async () => {
    const id = await campaignOf(tokenA);
    expect((await db.newsletter.getCampaign(id))?.tenant).toBe('a');
    const unknown = randomUUID();
    for (const [method, url, payload] of ROUTES) {
      for (const token of [tokenB, undefined]) {
        // tokenB: tenant b; undefined: an API_TOKENS token, tenant default.
        const answer = await call(token, method, url(id), payload);
        expect(answer.statusCode, `${method} ${url(id)}`).toBe(404);
        const asUnknown = await call(token, method, url(unknown), payload);
        expect(asUnknown.statusCode).toBe(404);
        expect(answer.json()).toEqual({ ...asUnknown.json(), message: asUnknown.json().message.replace(unknown, id) });
      }
    }
    // Nothing b tried changed a's campaign: still a draft without recipients, no job enqueued.
    const read = await call(tokenA, 'GET', `/campaigns/${id}`);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toMatchObject({ state: 'draft', total: 0 });
    expect(await api.countJobs()).toBe(0);
  });

  it('its own tenant adds, starts and cancels it; the fan-out and finish jobs carry the tenant', async () => {
    const id = await campaignOf(tokenA);
    const added = await call(tokenA, 'POST', `/campaigns/${id}/recipients`, {
      recipients: [{ userId: 'u-1', email: 'u1@example.com', firstName: 'U' }],
    });
    expect(added.statusCode, added.body).toBe(202);
    expect((await call(tokenA, 'POST', `/campaigns/${id}/start`)).statusCode).toBe(202);
    const fanOut = await api.queues.getQueue('newsletter').getJob(`a@newsletter:fan-out:${id}`);
    expect(fanOut?.data).toEqual({ campaignId: id, [TENANT_FIELD]: 'a' });
    expect((await call(tokenA, 'POST', `/campaigns/${id}/cancel`)).statusCode).toBe(202);
    const finish = await api.queues.getQueue('newsletter').getJob(`a@newsletter:finish:${id}`);
    expect(finish?.data).toEqual({ campaignId: id, [TENANT_FIELD]: 'a' });
    expect((await call(tokenA, 'GET', `/campaigns/${id}`)).json()).toMatchObject({ state: 'cancelled', cancelled: 1 });
  });

  it("a campaign created with an API_TOKENS token is default's, as before tenants", async () => {
    const id = await campaignOf(undefined);
    expect((await db.newsletter.getCampaign(id))?.tenant).toBe('default');
    expect((await call(undefined, 'GET', `/campaigns/${id}`)).statusCode).toBe(200);
    expect((await call(tokenA, 'GET', `/campaigns/${id}`)).statusCode).toBe(404);
  });

  it("an opt-out through a's link is a's: the same user id and address in b's campaign are still mailed, a's next campaign skips them", async () => {
    const recipient = { userId: 'u-shared', email: 'Shared@Example.com', firstName: 'S' };
    const [a1, a2, b1] = [await campaignOf(tokenA), await campaignOf(tokenA), await campaignOf(tokenB)];
    for (const [token, id] of [
      [tokenA, a1],
      [tokenA, a2],
      [tokenB, b1],
    ] as const) {
      expect((await call(token, 'POST', `/campaigns/${id}/recipients`, { recipients: [recipient] })).statusCode).toBe(202);
    }
    // A link of a's first campaign, as the worker signs it: it names the campaign and the user only.
    const t = signUnsubscribeToken(UNSUBSCRIBE_SECRET, { campaignId: a1, userId: 'u-shared' });
    const answer = await api.app.inject({ method: 'POST', url: `/unsubscribe?t=${encodeURIComponent(t)}` });
    expect(answer.statusCode, answer.body).toBe(200);
    expect(answer.json()).toEqual({ unsubscribed: true, already: false });
    const { rows } = await db.pool.query("SELECT tenant_id, email, user_id FROM newsletter_unsubscribes WHERE user_id = 'u-shared'");
    expect(rows).toEqual([{ tenant_id: 'a', email: 'shared@example.com', user_id: 'u-shared' }]);
    expect((await db.newsletter.sendContext(a2, 'u-shared'))?.unsubscribed).toBe(true);
    expect((await db.newsletter.sendContext(b1, 'u-shared'))?.unsubscribed).toBe(false);
  });
});
