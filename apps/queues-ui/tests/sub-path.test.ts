import { sharedRedis, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOD_AUTH, startStack, type Stack } from './helpers/stack';

let redis: RedisPeer;
let stack: Stack;

beforeAll(async () => {
  redis = sharedRedis();
  stack = await startStack(redis, { publicBasePath: '/ops' });
});

afterAll(async () => {
  await stack?.close();
});

describe('behind a reverse proxy that strips /ops (QUEUES_UI_BASE_PATH=/ops)', () => {
  it('serves the board at /ui but points the page, its assets and its API at /ops/ui', async () => {
    const page = await stack.app.inject({ method: 'GET', url: '/ui', headers: GOOD_AUTH });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<base href="/ops/ui/" />');
    // Assets are relative to <base>, so the browser asks the proxy for /ops/ui/static/…, which reaches /ui/static/….
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    expect((await stack.app.inject({ method: 'GET', url: `/ui/${script}`, headers: GOOD_AUTH })).statusCode).toBe(200);
    expect((await stack.app.inject({ method: 'GET', url: '/ui/api/queues', headers: GOOD_AUTH })).statusCode).toBe(200);
    expect((await stack.app.inject({ method: 'GET', url: '/ops/ui', headers: GOOD_AUTH })).statusCode).toBe(404);
  });
});
