import { signUnsubscribeToken } from '@ceres/app-kit';
import { sharedPostgres, sharedRedis, type PostgresPeer, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadApiConfig } from '../src/config';
import { auth, REQUIRED_ENV, startApi, TOKEN, UNSUBSCRIBE_SECRET, type TestApi } from './helpers';

// Issue 24: the public unsubscribe route, against a real PostgreSQL and Redis.
let redis: RedisPeer;
let postgres: PostgresPeer;
let api: TestApi;

beforeAll(async () => {
  redis = sharedRedis();
  postgres = await sharedPostgres();
  api = await startApi(redis, { DATABASE_URL: postgres.url });
}, 60_000);

afterAll(async () => {
  await api?.close();
  await postgres?.close();
});

async function campaignWith(userIds: string[]): Promise<string> {
  const created = await api.app.inject({
    method: 'POST',
    url: '/campaigns',
    headers: auth(),
    payload: { subject: 'S', text: 'T {{unsubscribeUrl}}' },
  });
  const id = created.json().campaignId as string;
  await api.app.inject({
    method: 'POST',
    url: `/campaigns/${id}/recipients`,
    headers: auth(),
    payload: { recipients: userIds.map((userId) => ({ userId, email: `${userId}@example.com`, firstName: 'U' })) },
  });
  return id;
}

describe('POST /unsubscribe limits (issue 24)', () => {
  it('item 11: one link is answered at most API_UNSUBSCRIBE_RATE_LIMIT_MAX times a minute (default 10); other links are not held back', async () => {
    const id = await campaignWith(['rl-1', 'rl-2']);
    const t = signUnsubscribeToken(UNSUBSCRIBE_SECRET, { campaignId: id, userId: 'rl-1' });
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push((await api.app.inject({ method: 'POST', url: `/unsubscribe?t=${t}` })).statusCode);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(statuses.slice(10)).toEqual(Array(5).fill(429));
    const refused = await api.app.inject({ method: 'POST', url: `/unsubscribe?t=${t}` });
    expect(refused.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect(refused.headers['retry-after']).toBeDefined();
    // Another recipient's link, from the same client, still works.
    const other = signUnsubscribeToken(UNSUBSCRIBE_SECRET, { campaignId: id, userId: 'rl-2' });
    expect((await api.app.inject({ method: 'POST', url: `/unsubscribe?t=${other}` })).statusCode).toBe(200);
    // Malformed tokens count per client address.
    const garbage: number[] = [];
    for (let i = 0; i < 12; i++) garbage.push((await api.app.inject({ method: 'POST', url: `/unsubscribe?t=garbage-${i}` })).statusCode);
    expect(garbage.slice(0, 10)).toEqual(Array(10).fill(400));
    expect(garbage.slice(10)).toEqual([429, 429]);
  });
});

describe('UNSUBSCRIBE_SECRET rotation (issue 24)', () => {
  const NEW_SECRET = 'rotated-unsubscribe-secret-9876543210';

  it('item 17: a list, newest first: the API accepts links signed with any (the worker side: apps/worker/tests/unsubscribe-secret.test.ts)', async () => {
    const id = await campaignWith(['rot-1', 'rot-2', 'rot-3']);
    const rotated = await startApi(redis, { DATABASE_URL: postgres.url, UNSUBSCRIBE_SECRET: `${NEW_SECRET},${UNSUBSCRIBE_SECRET}` });
    try {
      const old = signUnsubscribeToken(UNSUBSCRIBE_SECRET, { campaignId: id, userId: 'rot-1' });
      const fresh = signUnsubscribeToken(NEW_SECRET, { campaignId: id, userId: 'rot-2' });
      const stranger = signUnsubscribeToken('some-other-secret-0123456789', { campaignId: id, userId: 'rot-3' });
      const post = (t: string) => rotated.app.inject({ method: 'POST', url: `/unsubscribe?t=${t}` });
      expect((await post(old)).json()).toEqual({ unsubscribed: true, already: false });
      expect((await post(fresh)).json()).toEqual({ unsubscribed: true, already: false });
      expect((await post(stranger)).json()).toMatchObject({ code: 'INVALID_REQUEST', field: 't' });
    } finally {
      await rotated.close();
    }
    // Each entry must be strong; the error names the variable and the entry, never the secret.
    expect(() =>
      loadApiConfig({
        ...REQUIRED_ENV,
        API_TOKENS: TOKEN,
        JOBS_ENCRYPTION_KEYS: 'v1:' + Buffer.alloc(32, 7).toString('base64'),
        UNSUBSCRIBE_SECRET: `${NEW_SECRET},aaaaaaaaaaaaaaaaaaaa`,
      }),
    ).toThrow(/^UNSUBSCRIBE_SECRET: secret #2 /);
  });
});
