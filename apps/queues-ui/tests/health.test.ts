import { loadQueuesConfig, QueueClient } from '@ceres/queues';
import { startRedisServer, TEST_ENCRYPTION_KEYS, waitFor, type RedisServer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app';
import { AUTH, GOOD_AUTH, startStack, type Stack } from './helpers/stack';

// This file stops and restarts its own Redis.
let redis: RedisServer;
let stack: Stack;

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack(redis);
});

afterAll(async () => {
  await stack?.close();
  await redis?.close();
});

describe('GET /health and Redis outages', () => {
  it('answers the one health shape of both apps while Redis is up (the counts are at /api/queues/stats)', async () => {
    const response = await stack.app.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok', redis: 'up' });
  });

  it('answers 503 at once while Redis is down (API too), and recovers when it is back', async () => {
    await redis.stop();
    await waitFor(() => !stack.client.isReady(), { what: 'the client to notice Redis is gone' });

    const started = Date.now();
    const health = await stack.app.inject({ method: 'GET', url: '/health' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(health.statusCode).toBe(503);
    expect(health.json()).toEqual({ status: 'unavailable', redis: 'down' });

    for (const url of ['/api/queues/stats', '/api/schedulers', '/ui/api/queues']) {
      const response = await stack.app.inject({ method: 'GET', url, headers: GOOD_AUTH });
      expect(response.statusCode, url).toBe(503);
      expect(response.json(), url).toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    }
    // Credentials are still checked first.
    expect((await stack.app.inject({ method: 'GET', url: '/api/queues/stats' })).statusCode).toBe(401);
    // Scrapes still succeed and say Redis is down.
    const metrics = await stack.app.inject({ method: 'GET', url: '/metrics', headers: GOOD_AUTH });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('ceres_queue_redis_up 0');
    expect(metrics.body).not.toContain('ceres_queue_jobs{');

    await redis.start();
    await waitFor(async () => (await stack.app.inject({ method: 'GET', url: '/health' })).statusCode === 200, {
      timeoutMs: 15_000,
      what: '/health to be healthy again',
    });
    const stats = await stack.app.inject({ method: 'GET', url: '/api/queues/stats', headers: GOOD_AUTH });
    expect(stats.statusCode).toBe(200);
  });
});

// Issue 24 item 23: with Redis frozen the connection stays "ready", so the gate lets requests
// through; Bull Board's own API then answered 500 "Command timed out" (the page: "Queue Not
// found / Internal server error"). A real redis-server, SIGSTOPped for a few seconds at most.
describe('Bull Board’s API while Redis is frozen (SIGSTOP)', () => {
  it('answers 503 QUEUE_UNAVAILABLE in the one error shape, and 200 again once Redis runs', async () => {
    const frozen = await startRedisServer();
    const config = loadQueuesConfig({
      REDIS_URL: frozen.url,
      REDIS_PREFIX: 'freeze:',
      // Short, so the frozen answers come fast; not so short that a loaded machine's event-loop lag
      // (the full suite on 2 cores) times out commands Redis has answered.
      REDIS_COMMAND_TIMEOUT_MS: '1000',
      JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
    });
    const client = new QueueClient({ config, connectionName: 'queues-ui-freeze-test', onWarning: () => {} });
    await client.ready();
    const app = buildApp({ client, auth: AUTH });
    await app.ready();
    const admin = new Redis(frozen.url);
    const pid = Number(/process_id:(\d+)/.exec(await admin.info('server'))?.[1]);
    admin.disconnect();
    expect(pid).toBeGreaterThan(0);
    const requests = [
      { method: 'GET' as const, url: '/ui/api/queues?activeQueue=email&status=latest&page=1&jobsPerPage=10' },
      { method: 'GET' as const, url: '/ui/api/redis/stats' },
      { method: 'PUT' as const, url: '/ui/api/queues/email/pause' },
    ];
    try {
      process.kill(pid, 'SIGSTOP');
      try {
        for (const request of requests) {
          const started = Date.now();
          const response = await app.inject({ ...request, headers: GOOD_AUTH });
          expect(Date.now() - started, request.url).toBeLessThan(2000);
          expect({ status: response.statusCode, body: response.json() }, request.url).toEqual({
            status: 503,
            body: { code: 'QUEUE_UNAVAILABLE', message: expect.any(String) },
          });
        }
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      // On a timeout, what the last answer was and the connection's state (a rare failure under load).
      let last = '';
      const resumed = Date.now();
      await waitFor(
        async () => {
          const response = await app.inject({ method: 'GET', url: requests[0]!.url, headers: GOOD_AUTH });
          last = `${response.statusCode} ${response.body.slice(0, 160)} (client ready: ${client.isReady()}, ${Date.now() - resumed} ms after SIGCONT)`;
          return response.statusCode === 200;
        },
        { timeoutMs: 15_000, what: 'Bull Board’s API to answer again' },
      ).catch((error: Error) => {
        throw new Error(`${error.message}; last answer: ${last}`);
      });
    } finally {
      await app.close();
      await client.close();
      await frozen.close();
    }
  }, 40_000);
});
