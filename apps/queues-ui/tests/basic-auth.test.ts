import { sharedRedis, type RedisPeer } from '@ceres/testing';
import type { HTTPMethods, RouteOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTH, basic, GOOD_AUTH, startStack, type Stack } from './helpers/stack';

let redis: RedisPeer;
let stack: Stack;
const routes: Array<{ method: string; url: string; isPublic: boolean }> = [];

beforeAll(async () => {
  redis = sharedRedis();
  // Every route, Bull Board's and @fastify/static's included, as Fastify registers it.
  stack = await startStack(redis, {
    // The table sends hundreds of wrong credentials from one address on purpose; the failure
    // limit itself is tested in hardening.test.ts.
    authFailures: { max: 100_000, windowMs: 60_000 },
    onRoute: (route: RouteOptions) => {
      const methods = ([] as HTTPMethods[]).concat(route.method);
      for (const method of methods) {
        routes.push({ method, url: route.url, isPublic: route.config?.public === true });
      }
    },
  });
});

afterAll(async () => {
  await stack?.close();
});

/** A concrete URL for a route pattern: every parameter and wildcard gets a plausible value. */
const concrete = (url: string) => url.replace(/:[A-Za-z]+/g, 'email').replace(/\*$/, 'index.html');

const challenge = 'Basic realm="ceres-queues", charset="UTF-8"';

const badCredentials: Array<[string, Record<string, string>]> = [
  ['no credentials', {}],
  ['a wrong password', { authorization: basic(AUTH.user, 'wrong password') }],
  ['a wrong user', { authorization: basic('root', AUTH.pass) }],
  ['the password with a suffix', { authorization: basic(AUTH.user, `${AUTH.pass}x`) }],
  ['an empty password', { authorization: basic(AUTH.user, '') }],
  ['no colon', { authorization: `Basic ${Buffer.from(`${AUTH.user}${AUTH.pass}`).toString('base64')}` }],
  ['another scheme', { authorization: `Bearer ${AUTH.pass}` }],
];

describe('basic auth on every route but /health', () => {
  it('registers the routes the table must cover', () => {
    const urls = new Set(routes.map((route) => route.url));
    for (const expected of [
      '/api/queues/stats',
      '/api/queues/:queue/jobs',
      '/api/queues/:queue/retry',
      '/api/schedulers/:id/run',
      '/metrics',
      '/ui',
      '/ui/api/queues',
      '/ui/api/queues/:queueName/:jobId/retry',
      '/ui/static/*',
    ]) {
      expect(urls, expected).toContain(expected);
    }
    // Only /health (GET and its automatic HEAD) is public.
    expect(
      routes
        .filter((route) => route.isPublic)
        .map((route) => `${route.method} ${route.url}`)
        .sort(),
    ).toEqual(['GET /health', 'HEAD /health']);
    expect(routes.length).toBeGreaterThan(40);
  });

  it.each(badCredentials)('answers 401 with a challenge to %s on every protected route', async (_label, headers) => {
    const failures: string[] = [];
    for (const route of routes.filter((entry) => !entry.isPublic)) {
      const url = concrete(route.url);
      const response = await stack.app.inject({ method: route.method as HTTPMethods, url, headers });
      if (response.statusCode !== 401 || response.headers['www-authenticate'] !== challenge) {
        failures.push(`${route.method} ${url} → ${response.statusCode}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('hides unknown URLs behind the same challenge', async () => {
    const response = await stack.app.inject({ method: 'GET', url: '/nothing-here' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ code: 'UNAUTHORIZED', message: expect.any(String) });
  });

  it('lets the right credentials through, to the API, the page and its static files', async () => {
    const stats = await stack.app.inject({ method: 'GET', url: '/api/queues/stats', headers: GOOD_AUTH });
    expect(stats.statusCode).toBe(200);
    const page = await stack.app.inject({ method: 'GET', url: '/ui', headers: GOOD_AUTH });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<base href="/ui/" />');
    const script = /src="(static\/js\/main\.[^"]+\.js)"/.exec(page.body)?.[1];
    expect(script).toBeDefined();
    const asset = await stack.app.inject({ method: 'GET', url: `/ui/${script}`, headers: GOOD_AUTH });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toMatch(/javascript/);
    const boardApi = await stack.app.inject({ method: 'GET', url: '/ui/api/queues', headers: GOOD_AUTH });
    expect(boardApi.statusCode).toBe(200);
    expect((boardApi.json() as { queues: Array<{ name: string }> }).queues.map((queue) => queue.name).sort()).toEqual([
      'email',
      'files',
      'maintenance',
      'newsletter',
      'slack',
    ]);
  });

  it('serves /health without credentials', async () => {
    const response = await stack.app.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok', redis: 'up' });
  });
});
