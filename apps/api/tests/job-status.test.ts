import { waitFor } from '@ceres/testing';
import { UnrecoverableError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { auth, startApi, useTestApi } from './helpers';

// A reachable PostgreSQL: an id Redis does not hold is looked up in the job ledger.
const ctx = useTestApi({}, { postgres: true });

const status = (queue: string, jobId: string, headers = auth()) =>
  ctx.api.app.inject({ method: 'GET', url: `/jobs/${queue}/${encodeURIComponent(jobId)}`, headers });

const enqueue = async (fileKey: string) => {
  const response = await ctx.api.app.inject({
    method: 'POST',
    url: '/jobs/files/validate-cv',
    headers: auth(),
    payload: { userId: 'u1', fileKey },
  });
  expect(response.statusCode).toBe(202);
  return response.json().jobId as string;
};

describe('GET /jobs/:queue/:jobId', () => {
  it('reports a waiting job, its id URL-encoded (file keys contain "/")', async () => {
    const jobId = await enqueue('cv/waiting.pdf');
    const response = await status('files', jobId);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({
      jobId: 'files:validate-cv:cv/waiting.pdf',
      queue: 'files',
      job: 'validate-cv',
      state: 'waiting',
      progress: 0,
      attemptsMade: 0,
      failedReason: null,
      returnValue: null,
      timestamps: { processedAt: null, finishedAt: null },
    });
    expect(body.timestamps.createdAt).toBeGreaterThan(Date.now() - 60_000);
    expect(body).not.toHaveProperty('data');
  });

  it('reports completed (with its return value) and failed (with its reason) jobs', async () => {
    // A test-only worker moves the jobs on; the API itself never runs one.
    const worker = new Worker(
      'files',
      async (job) => {
        if (job.data.fileKey === 'cv/broken.pdf') throw new UnrecoverableError('not a PDF');
        await job.updateProgress(100);
        return { pages: 3 };
      },
      {
        connection: { host: '127.0.0.1', port: ctx.redis.port, db: ctx.api.config.queues.redisDb },
        prefix: ctx.api.config.queues.bullPrefix,
      },
    );
    try {
      const good = await enqueue('cv/good.pdf');
      const broken = await enqueue('cv/broken.pdf');
      const done = await waitFor(
        async () => {
          const body = (await status('files', good)).json();
          return body.state === 'completed' && body;
        },
        { what: 'the job to complete' },
      );
      expect(done).toMatchObject({ state: 'completed', progress: 100, attemptsMade: 1, returnValue: { pages: 3 }, failedReason: null });
      expect(done.timestamps.finishedAt).toBeGreaterThanOrEqual(done.timestamps.processedAt);
      const failed = await waitFor(
        async () => {
          const body = (await status('files', broken)).json();
          return body.state === 'failed' && body;
        },
        { what: 'the job to fail' },
      );
      expect(failed).toMatchObject({ state: 'failed', failedReason: 'not a PDF', attemptsMade: 1 });
    } finally {
      await worker.close();
    }
  });

  it('answers 404 for an unknown job and for an unknown queue (listing the queues)', async () => {
    const missing = await status('email', 'email:verify:nobody');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ code: 'JOB_NOT_FOUND' });
    const queue = await status('nope', 'x');
    expect(queue.statusCode).toBe(404);
    expect(queue.json()).toMatchObject({ code: 'UNKNOWN_QUEUE', known: ['email', 'files', 'maintenance', 'newsletter', 'slack'] });
  });

  it('answers from the job ledger once Redis dropped the job, with the tenant check; 503 when the ledger cannot be read', async () => {
    const accepted = await ctx.api.app.inject({
      method: 'POST',
      url: '/jobs/email/welcome',
      headers: auth(),
      payload: { userId: 'ledger-1', email: 'ana.status@example.com', firstName: 'Ana' },
    });
    const { jobId } = accepted.json() as { jobId: string };
    const queue = ctx.api.queues.getQueue('email');
    const job = (await queue.getJob(jobId))!;
    // What the worker writes when the job completes; then Redis drops the job (its retention).
    const finishedAt = new Date(job.timestamp + 1_500);
    await ctx.api.db.jobLedger.insertMany([
      {
        queue: 'email',
        jobType: 'welcome',
        jobId,
        tenant: 'default',
        keyField: 'userId',
        key: 'ledger-1',
        state: 'completed',
        enqueuedAt: new Date(job.timestamp),
        startedAt: new Date(job.timestamp + 1_000),
        finishedAt,
        attempts: 1,
        result: '{"sent":true,"messageId":"<x@ceres>"}',
        error: null,
      },
      {
        queue: 'email',
        jobType: 'welcome',
        jobId: 'email:welcome:ledger-2',
        tenant: 'default',
        keyField: 'userId',
        key: 'ledger-2',
        state: 'failed',
        enqueuedAt: new Date(job.timestamp),
        startedAt: null,
        finishedAt,
        attempts: 6,
        result: null,
        error: '550 no mailbox ana.status@example.com',
      },
      // Another tenant's job with a numbered id (numbers are global): never shown to this tenant.
      {
        queue: 'email',
        jobType: 'welcome',
        jobId: '999999',
        tenant: 'other',
        keyField: 'userId',
        key: 'ledger-3',
        state: 'completed',
        enqueuedAt: new Date(job.timestamp),
        startedAt: null,
        finishedAt,
        attempts: 1,
        result: null,
        error: null,
      },
    ]);
    await queue.remove(jobId);

    const completed = await status('email', jobId);
    expect(completed.statusCode, completed.body).toBe(200);
    expect(completed.json()).toEqual({
      jobId,
      queue: 'email',
      job: 'welcome',
      state: 'completed',
      progress: null,
      attemptsMade: 1,
      failedReason: null,
      returnValue: { sent: true, messageId: '<x@ceres>' },
      timestamps: { createdAt: job.timestamp, processedAt: job.timestamp + 1_000, finishedAt: finishedAt.getTime() },
    });
    const failed = (await status('email', 'email:welcome:ledger-2')).json();
    expect(failed).toMatchObject({ state: 'failed', attemptsMade: 6 });
    expect(failed.failedReason).toContain('550');
    expect(failed.failedReason).not.toContain('ana.status@example.com');
    expect((await status('email', '999999')).statusCode).toBe(404);

    // PostgreSQL unreachable (startApi's default DATABASE_URL): not "no such job", but try again.
    const noLedger = await startApi(ctx.redis);
    try {
      const unavailable = await noLedger.app.inject({ method: 'GET', url: `/jobs/email/${encodeURIComponent(jobId)}`, headers: auth() });
      expect(unavailable.statusCode).toBe(503);
      expect(unavailable.json()).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    } finally {
      await noLedger.close();
    }
  });
});
