import { startRedisServer, waitFor, type RedisServer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOD_AUTH, startStack, type Stack } from './helpers/stack';

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
