import { sharedRedis, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, OTHER_TOKEN, startApi, type TestApi } from './helpers';

let redis: RedisPeer;
let api: TestApi;

beforeAll(async () => {
  redis = sharedRedis();
  api = await startApi(redis, { API_RATE_LIMIT_MAX: '3' });
});

afterAll(async () => {
  await api?.close();
});

const alert = (headers: Record<string, string>, n: number) =>
  api.app.inject({ method: 'POST', url: '/jobs/slack/alert', headers, payload: { text: `alert ${n}` } });

describe('rate limit per token', () => {
  it('answers 429 RATE_LIMITED past API_RATE_LIMIT_MAX a minute, per token, enqueueing nothing more', async () => {
    for (let n = 0; n < 3; n++) expect((await alert(auth(), n)).statusCode).toBe(202);
    const refused = await alert(auth(), 3);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ code: 'RATE_LIMITED' });
    expect(refused.json().message).toMatch(/rate limit of 3 requests per minute exceeded/);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(await api.countJobs()).toBe(3);

    // Another token has a budget of its own; status reads count too.
    expect((await alert(auth(OTHER_TOKEN), 4)).statusCode).toBe(202);
    expect((await api.app.inject({ method: 'GET', url: '/jobs/slack/nope', headers: auth() })).statusCode).toBe(429);
    expect(await api.countJobs()).toBe(4);
  });

  it('keeps /health out of the limit, and refuses unauthenticated requests before they count', async () => {
    for (let n = 0; n < 10; n++) expect((await api.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
    for (let n = 0; n < 10; n++) {
      expect((await api.app.inject({ method: 'GET', url: '/jobs/email/x', headers: auth('no-such-token-000000000') })).statusCode).toBe(
        401,
      );
    }
  });

  it('leaves accepted responses without rate headers (lean hot path)', async () => {
    const response = await api.app.inject({ method: 'GET', url: '/jobs/email/x', headers: auth(OTHER_TOKEN) });
    expect(response.statusCode).toBe(404);
    expect(response.headers['x-ratelimit-remaining']).toBeUndefined();
  });
});
