import { startRedisServer, waitFor, type RedisServer } from '@ceres/testing';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { gate, GOOD_AUTH, startStack, startWorker, type Stack, type TestWorker } from './helpers/stack';

let redis: RedisServer;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  // A Redis of its own: the pause test looks for the worker's blocked connection in CLIENT LIST.
  redis = await startRedisServer();
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await redis?.close();
});

async function stack(): Promise<Stack> {
  const created = await startStack(redis);
  cleanups.push(created.close);
  return created;
}

function worker(...args: Parameters<typeof startWorker>): TestWorker {
  const created = startWorker(...args);
  cleanups.push(created.close);
  return created;
}

async function api(s: Stack, method: 'GET' | 'POST', url: string, payload?: unknown) {
  const response = await s.app.inject({
    method,
    url,
    headers: GOOD_AUTH,
    ...(payload === undefined ? {} : { payload: payload as object }),
  });
  return { status: response.statusCode, body: response.json() as Record<string, any> };
}

/** Completes or fails each job by its data: `fail` throws, `hold` stays active until released. */
const byOutcome = (held: Promise<void>) => async (job: { data: { outcome?: string } }) => {
  if (job.data.outcome === 'fail') throw new Error('simulated failure for the admin API test');
  if (job.data.outcome === 'hold') await held;
  return 'done';
};

/** Runs jobs through a worker until `completed` completed and `failed` failed. */
async function finishJobs(s: Stack, queue: 'email' | 'slack', completed: number, failed: number) {
  const q = s.client.getQueue(queue);
  const w = worker(s.config, queue, byOutcome(Promise.resolve()));
  for (let i = 0; i < completed; i++) await q.add('job', { outcome: 'ok', i });
  for (let i = 0; i < failed; i++) await q.add('job', { outcome: 'fail', i }, { attempts: 1 });
  await waitFor(
    async () => {
      const counts = await q.getJobCounts('completed', 'failed');
      return counts.completed === completed && counts.failed === failed;
    },
    { what: `${completed} completed and ${failed} failed jobs` },
  );
  await w.close();
}

describe('GET /api/queues/stats', () => {
  it('counts the jobs of every state, per queue and in total', async () => {
    const s = await stack();
    const email = s.client.getQueue('email');
    const release = gate();
    const w = worker(s.config, 'email', byOutcome(release.promise));
    await email.add('verify', { outcome: 'ok' });
    await email.add('verify', { outcome: 'fail' }, { attempts: 1 });
    await waitFor(async () => (await email.getJobCounts('completed', 'failed')).failed === 1, { what: 'the failed job' });
    const held = await email.add('verify', { outcome: 'hold' });
    await waitFor(async () => (await email.getJobState(held.id!)) === 'active', { what: 'the held job to be active' });
    // The worker (concurrency 1) is busy: these stay where they were put.
    await email.add('verify', { outcome: 'ok', n: 1 });
    await email.add('verify', { outcome: 'ok', n: 2 });
    await email.add('verify', { outcome: 'ok' }, { delay: 60_000 });
    await email.add('verify', { outcome: 'ok' }, { priority: 3 });

    const all = await api(s, 'GET', '/api/queues/stats');
    expect(all.status).toBe(200);
    expect(all.body.success).toBe(true);
    expect(Date.parse(all.body.timestamp)).not.toBeNaN();
    expect(Object.keys(all.body.queues).sort()).toEqual(['email', 'files', 'maintenance', 'newsletter', 'slack']);
    const expected = {
      name: 'email',
      waiting: 2,
      active: 1,
      completed: 1,
      failed: 1,
      delayed: 1,
      prioritized: 1,
      total: 7,
    };
    expect(all.body.queues.email).toEqual(expected);
    expect(all.body.queues.slack).toMatchObject({ name: 'slack', total: 0 });

    const one = await api(s, 'GET', '/api/queues/email/stats');
    expect(one.status).toBe(200);
    expect(one.body.stats).toEqual(expected);

    release.open();
    await waitFor(async () => (await email.getJobState(held.id!)) === 'completed', { what: 'the held job to complete' });
    await w.close();
  });

  it('answers 404 listing the known queues for an unknown one, on every queue route', async () => {
    const s = await stack();
    for (const [method, url, payload] of [
      ['GET', '/api/queues/nope/stats'],
      ['GET', '/api/queues/nope/jobs?state=failed'],
      ['POST', '/api/queues/nope/pause'],
      ['POST', '/api/queues/nope/resume'],
      ['POST', '/api/queues/nope/clean/failed', { gracePeriod: 0 }],
      ['POST', '/api/queues/nope/retry'],
    ] as const) {
      const response = await api(s, method, url, payload);
      expect(response.status, url).toBe(404);
      expect(response.body).toEqual({
        code: 'UNKNOWN_QUEUE',
        message: 'unknown queue "nope"; known queues: email, files, maintenance, newsletter, slack',
        known: ['email', 'files', 'maintenance', 'newsletter', 'slack'],
      });
    }
  });
});

describe('GET /api/queues/:queue/jobs', () => {
  it('lists failed jobs with their reason, stack trace and data', async () => {
    const s = await stack();
    await finishJobs(s, 'email', 1, 2);
    const response = await api(s, 'GET', '/api/queues/email/jobs?state=failed&start=0&end=10');
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ success: true, queue: 'email', state: 'failed', start: 0, end: 10, total: 2 });
    expect(response.body.jobs).toHaveLength(2);
    for (const job of response.body.jobs) {
      expect(job).toMatchObject({
        name: 'job',
        state: 'failed',
        data: { outcome: 'fail' },
        attemptsMade: 1,
        failedReason: 'simulated failure for the admin API test',
      });
      expect(job.stacktrace[0]).toContain('simulated failure');
      expect(job.finishedOn).toBeGreaterThanOrEqual(job.timestamp);
    }
    const page = await api(s, 'GET', '/api/queues/email/jobs?state=completed&start=0&end=0');
    expect(page.body.jobs).toHaveLength(1);
    expect(page.body.jobs[0]).toMatchObject({ state: 'completed', failedReason: null });
  });

  it('rejects a bad state, a missing state and an oversized or inverted range, naming the field', async () => {
    const s = await stack();
    const cases: Array<[string, string]> = [
      ['/api/queues/email/jobs?state=exploded', 'state'],
      ['/api/queues/email/jobs', 'state'],
      ['/api/queues/email/jobs?state=failed&start=-1', 'start'],
      ['/api/queues/email/jobs?state=failed&start=abc', 'start'],
      ['/api/queues/email/jobs?state=failed&start=0&end=1000', 'end'],
      ['/api/queues/email/jobs?state=failed&start=10&end=5', 'end'],
      ['/api/queues/email/jobs?state=failed&colour=red', 'colour'],
    ];
    for (const [url, field] of cases) {
      const response = await api(s, 'GET', url);
      expect(response.status, url).toBe(400);
      expect(response.body, url).toMatchObject({ code: 'INVALID_REQUEST', field });
      expect(response.body.message, url).toContain(field);
    }
    const bad = await api(s, 'GET', '/api/queues/email/jobs?state=exploded');
    expect(bad.body.message).toBe('invalid querystring: state must be one of waiting, active, completed, failed, delayed, prioritized');
    expect(bad.body.issues).toEqual([
      { field: 'state', message: 'state must be one of waiting, active, completed, failed, delayed, prioritized' },
    ]);
    expect(Object.keys(bad.body).sort()).toEqual(['code', 'field', 'issues', 'message']);
  });
});

describe('pause and resume', () => {
  it('stop a running worker from taking jobs, then let it take them again', async () => {
    const s = await stack();
    const slack = s.client.getQueue('slack');
    const w = worker(s.config, 'slack', async () => 'posted');
    const first = await slack.add('alert', { text: 'before pause' });
    await waitFor(async () => (await slack.getJobState(first.id!)) === 'completed', { what: 'the worker to take a job' });

    const paused = await api(s, 'POST', '/api/queues/slack/pause');
    expect(paused).toEqual({ status: 200, body: { success: true, queue: 'slack', paused: true } });
    const held = await slack.add('alert', { text: 'while paused' });
    // The running worker has had its occasion to (wrongly) take it: the add is in the paused list and
    // the worker is blocked waiting for work again, with no job handed to it.
    await waitFor(async () => (await slack.getJobState(held.id!)) === 'waiting', { what: 'the held job waiting' });
    const admin = new Redis(redis.url);
    try {
      await waitFor(async () => String(await admin.client('LIST')).includes('cmd=bzpopmin'), {
        what: 'the worker blocked waiting for work',
      });
    } finally {
      admin.disconnect();
    }
    expect(w.processed).toEqual([first.id]);
    expect(await slack.getJobState(held.id!)).not.toBe('completed');
    expect((await api(s, 'GET', '/api/queues/slack/stats')).body.stats).toMatchObject({ waiting: 1, active: 0, completed: 1 });

    const resumed = await api(s, 'POST', '/api/queues/slack/resume');
    expect(resumed).toEqual({ status: 200, body: { success: true, queue: 'slack', paused: false } });
    await waitFor(async () => (await slack.getJobState(held.id!)) === 'completed', { what: 'the worker to take the held job' });
    expect(w.processed).toEqual([first.id, held.id]);
  });
});

describe('POST /api/queues/:queue/clean/:state', () => {
  it('removes finished jobs older than the grace period, of the named state only, up to the limit', async () => {
    const s = await stack();
    await finishJobs(s, 'email', 3, 2);
    const email = s.client.getQueue('email');

    const young = await api(s, 'POST', '/api/queues/email/clean/completed', { gracePeriod: 3_600_000 });
    expect(young.body).toEqual({ success: true, queue: 'email', state: 'completed', gracePeriod: 3_600_000, removed: 0 });
    expect(await email.getCompletedCount()).toBe(3);

    const all = await api(s, 'POST', '/api/queues/email/clean/completed', { gracePeriod: 0 });
    expect(all.status).toBe(200);
    expect(all.body.removed).toBe(3);
    expect(await email.getJobCounts('completed', 'failed')).toEqual({ completed: 0, failed: 2 });

    const one = await api(s, 'POST', '/api/queues/email/clean/failed', { gracePeriod: 0, limit: 1 });
    expect(one.body.removed).toBe(1);
    expect(await email.getFailedCount()).toBe(1);
  });

  it('rejects a state other than completed or failed and a bad body, naming the field', async () => {
    const s = await stack();
    const cases: Array<[string, unknown, string]> = [
      ['/api/queues/email/clean/active', { gracePeriod: 0 }, 'state'],
      ['/api/queues/email/clean/waiting', { gracePeriod: 0 }, 'state'],
      ['/api/queues/email/clean/failed', {}, 'gracePeriod'],
      ['/api/queues/email/clean/failed', { gracePeriod: -1 }, 'gracePeriod'],
      ['/api/queues/email/clean/failed', { gracePeriod: 1.5 }, 'gracePeriod'],
      ['/api/queues/email/clean/failed', { gracePeriod: '1000' }, 'gracePeriod'],
      ['/api/queues/email/clean/failed', { gracePeriod: 0, limit: 0 }, 'limit'],
      ['/api/queues/email/clean/failed', { gracePeriod: 0, force: true }, 'force'],
    ];
    for (const [url, payload, field] of cases) {
      const response = await api(s, 'POST', url, payload);
      expect(response.status, `${url} ${JSON.stringify(payload)}`).toBe(400);
      // The path's state is a request field, the rest are body fields.
      expect(response.body, `${url} ${JSON.stringify(payload)}`).toMatchObject({
        code: field === 'state' ? 'INVALID_REQUEST' : 'INVALID_BODY',
        field,
      });
    }
    const noBody = await s.app.inject({ method: 'POST', url: '/api/queues/email/clean/failed', headers: GOOD_AUTH });
    expect(noBody.statusCode).toBe(400);
    expect(noBody.json()).toMatchObject({ field: 'gracePeriod' });
  });
});

describe('POST /api/queues/:queue/retry', () => {
  it('moves every failed job back to waiting and says how many', async () => {
    const s = await stack();
    await finishJobs(s, 'email', 1, 3);
    const email = s.client.getQueue('email');
    const response = await api(s, 'POST', '/api/queues/email/retry');
    expect(response).toEqual({ status: 200, body: { success: true, queue: 'email', retried: 3 } });
    expect(await email.getJobCounts('failed', 'waiting', 'completed')).toMatchObject({ failed: 0, waiting: 3, completed: 1 });
    const again = await api(s, 'POST', '/api/queues/email/retry');
    expect(again.body.retried).toBe(0);
  });
});

describe('job schedulers', () => {
  it('lists schedulers with pattern, tz and next run, and runs one now', async () => {
    const s = await stack();
    const maintenance = s.client.getQueue('maintenance');
    await maintenance.upsertJobScheduler(
      'clean-verification-tokens-hourly',
      { pattern: '0 * * * *', tz: 'Europe/Madrid' },
      { name: 'clean-verification-tokens', data: {}, opts: { attempts: 2 } },
    );
    const list = await api(s, 'GET', '/api/schedulers');
    expect(list.status).toBe(200);
    expect(list.body.schedulers).toEqual([
      {
        id: 'clean-verification-tokens-hourly',
        queue: 'maintenance',
        name: 'clean-verification-tokens',
        pattern: '0 * * * *',
        every: null,
        tz: 'Europe/Madrid',
        next: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/),
      },
    ]);
    const next = Date.parse(list.body.schedulers[0].next);
    expect(next).toBeGreaterThan(Date.now());
    expect(next - Date.now()).toBeLessThanOrEqual(3_600_000);
    expect(await maintenance.getDelayedCount()).toBe(1);

    const run = await api(s, 'POST', '/api/schedulers/clean-verification-tokens-hourly/run');
    expect(run.status).toBe(202);
    expect(run.body).toMatchObject({ success: true, scheduler: 'clean-verification-tokens-hourly', queue: 'maintenance' });
    const job = await maintenance.getJob(run.body.jobId);
    expect(job?.name).toBe('clean-verification-tokens');
    expect(job?.data).toEqual({});
    expect(job?.opts.attempts).toBe(2);
    expect(await maintenance.getJobState(run.body.jobId)).toBe('waiting');
    // The schedule keeps its own pending run.
    expect(await maintenance.getDelayedCount()).toBe(1);
  });

  it('answers 404 for an unknown scheduler and 409 when the id is in several queues', async () => {
    const s = await stack();
    const unknown = await api(s, 'POST', '/api/schedulers/nope/run');
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: 'UNKNOWN_SCHEDULER', message: 'unknown job scheduler "nope"' });

    for (const queue of ['maintenance', 'slack'] as const) {
      await s.client.getQueue(queue).upsertJobScheduler('twin', { every: 3_600_000 }, { name: 'x', data: {} });
    }
    const ambiguous = await api(s, 'POST', '/api/schedulers/twin/run');
    expect(ambiguous.status).toBe(409);
    expect(ambiguous.body).toMatchObject({ code: 'AMBIGUOUS_SCHEDULER' });
    const picked = await api(s, 'POST', '/api/schedulers/twin/run?queue=slack');
    expect(picked.status).toBe(202);
    expect(picked.body.queue).toBe('slack');
  });
});
