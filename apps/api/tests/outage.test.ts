import { startRedisServer, waitFor, type RedisServer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApi, type TestApi, verify } from './helpers';

let redis: RedisServer;

/** A command on a connection of the test's own (server-wide: CLIENT PAUSE, CONFIG SET). */
async function onServer<T>(command: (admin: Redis) => Promise<T>): Promise<T> {
  const admin = new Redis(redis.url);
  try {
    return await command(admin);
  } finally {
    admin.disconnect();
  }
}
let api: TestApi;

beforeAll(async () => {
  // Append-only, so the job enqueued before the outage is still there after the restart.
  redis = await startRedisServer({ appendOnly: true });
  api = await startApi(redis, { LOG_LEVEL: 'info' });
});

afterAll(async () => {
  await api?.close();
  await redis?.close();
});

const health = () => api.app.inject({ method: 'GET', url: '/health' });

/** Runs the request and returns the response with how long it took. */
async function timed(request: () => Promise<{ statusCode: number; json(): unknown; headers: Record<string, unknown> }>) {
  const started = performance.now();
  const response = await request();
  return { response, ms: performance.now() - started };
}

describe('GET /health and Redis outages', () => {
  it('answers 200 without a token while Redis is up', async () => {
    const response = await health();
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok', redis: 'up' });
  });

  it('answers 503 fast while Redis is down, enqueues nothing, and recovers by itself when it is back', async () => {
    const first = await api.app.inject({ method: 'POST', url: '/jobs/email/verify', headers: auth(), payload: verify('before') });
    expect(first.statusCode).toBe(202);
    await redis.stop();
    try {
      const requests = {
        health: () => health(),
        enqueue: () => api.app.inject({ method: 'POST', url: '/jobs/email/verify', headers: auth(), payload: verify('during') }),
        batch: () =>
          api.app.inject({ method: 'POST', url: '/jobs/email/verify/batch', headers: auth(), payload: { items: [verify('during-b')] } }),
        status: () => api.app.inject({ method: 'GET', url: '/jobs/email/email:verify:before', headers: auth() }),
      };
      for (const [name, request] of Object.entries(requests)) {
        // Twice: right after the outage starts and once the connection is known to be down.
        for (let round = 0; round < 2; round++) {
          const { response, ms } = await timed(request);
          expect(response.statusCode, `${name} #${round}`).toBe(503);
          expect(ms, `${name} #${round} took ${ms} ms`).toBeLessThan(1000);
          if (name === 'health') expect(response.json()).toEqual({ status: 'unavailable', redis: 'down' });
          else {
            expect(response.json()).toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
            expect(response.headers['retry-after']).toBe('2');
            // A status read enqueues nothing by nature: it says what failed, an enqueue what did not happen.
            const message = (response.json() as { message: string }).message;
            if (name === 'status') {
              expect(message).toMatch(/the job status could not be read/);
              expect(message).not.toMatch(/enqueued/);
            } else expect(message).toMatch(/nothing was enqueued/);
          }
        }
      }
      // Invalid bodies are still answered 400: validation needs no Redis.
      const invalid = await api.app.inject({ method: 'POST', url: '/jobs/email/verify', headers: auth(), payload: { userId: 'x' } });
      expect(invalid.statusCode).toBe(400);
    } finally {
      await redis.start();
    }
    await waitFor(async () => (await health()).statusCode === 200, { what: 'the API to see Redis again' });
    const after = await api.app.inject({ method: 'POST', url: '/jobs/email/verify', headers: auth(), payload: verify('after') });
    expect(after.statusCode).toBe(202);
    const ids = (await api.queues.getQueue('email').getJobs(['wait'])).map((job) => job.id).sort();
    expect(ids).toEqual(['email:verify:after', 'email:verify:before']);
    const status = await api.app.inject({ method: 'GET', url: '/jobs/email/email:verify:after', headers: auth() });
    expect(status.statusCode).toBe(200);

    // The outage is logged once when it starts and once when it ends, not per request.
    const lost = api.logs.filter((line) => String(line.msg).startsWith('redis connection lost'));
    const back = api.logs.filter((line) => String(line.msg).startsWith('redis is reachable again'));
    expect(lost).toHaveLength(1);
    expect(back).toHaveLength(1);
  });

  it('answers 503 when Redis hangs (commands outlive REDIS_COMMAND_TIMEOUT_MS), and 202 once it answers again', async () => {
    const hungApi = await startApi(redis, { REDIS_COMMAND_TIMEOUT_MS: '200' });
    try {
      // From here Redis holds every client's commands for 1.5 s; the sockets stay open. The email
      // queue is first used during the hang, so its BullMQ set-up fails too and must be redone.
      await onServer((admin) => admin.call('CLIENT', 'PAUSE', '1500', 'ALL'));
      const enqueue = await timed(() =>
        hungApi.app.inject({ method: 'POST', url: '/jobs/email/verify', headers: auth(), payload: verify('hung') }),
      );
      expect(enqueue.response.statusCode).toBe(503);
      expect(enqueue.ms).toBeLessThan(1000);
      const status = await hungApi.app.inject({ method: 'GET', url: '/jobs/email/email:verify:before', headers: auth() });
      expect(status.statusCode).toBe(503);
      expect(status.json()).toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
      await waitFor(
        async () =>
          (await hungApi.app.inject({ method: 'POST', url: '/jobs/email/verify', headers: auth(), payload: verify('after-hang') }))
            .statusCode === 202,
        { what: 'an enqueue to be accepted after the pause', timeoutMs: 5000 },
      );
    } finally {
      await hungApi.close();
    }
  });
});

describe('Redis out of memory (maxmemory reached, noeviction)', () => {
  it('answers 503 QUEUE_UNAVAILABLE with Retry-After, logs no part of the payload, and 202 once memory is freed', async () => {
    const oomApi = await startApi(redis, { LOG_LEVEL: 'trace' });
    const token = 'oom-secret-token-0123456789';
    const payload = { ...verify('oom-user'), email: 'oom-person@example.com', token };
    try {
      // Warm up the queue so the refusal comes from the add itself.
      expect(
        (await oomApi.app.inject({ method: 'POST', url: '/jobs/email/verify', headers: auth(), payload: verify('oom-warm') })).statusCode,
      ).toBe(202);
      await onServer((admin) => admin.call('CONFIG', 'SET', 'maxmemory', '1'));
      try {
        for (const request of [
          () => oomApi.app.inject({ method: 'POST', url: '/jobs/email/verify', headers: auth(), payload }),
          () => oomApi.app.inject({ method: 'POST', url: '/jobs/email/verify/batch', headers: auth(), payload: { items: [payload] } }),
        ]) {
          const response = await request();
          expect(response.statusCode).toBe(503);
          expect(response.json()).toMatchObject({ code: 'QUEUE_UNAVAILABLE', message: expect.stringMatching(/out of memory/) });
          expect(response.headers['retry-after']).toBe('2');
        }
      } finally {
        await onServer((admin) => admin.call('CONFIG', 'SET', 'maxmemory', '0'));
      }
      const after = await oomApi.app.inject({ method: 'POST', url: '/jobs/email/verify', headers: auth(), payload });
      expect(after.statusCode).toBe(202);
      const leaked = oomApi.logs.map((line) => JSON.stringify(line)).filter((line) => line.includes(token) || line.includes('oom-person@'));
      expect(leaked).toEqual([]);
    } finally {
      await oomApi.close();
    }
  });
});
