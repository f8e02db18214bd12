import { TEST_ENCRYPTION_KEYS, waitFor } from '@ceres/testing';
import { UnrecoverableError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { loadApiConfig } from '../src/config';
import { auth, REQUIRED_ENV, TOKEN, useTestApi } from './helpers';

const ctx = useTestApi();

const status = (queue: string, jobId: string) =>
  ctx.api.app.inject({ method: 'GET', url: `/jobs/${queue}/${encodeURIComponent(jobId)}`, headers: auth() });

describe('personal data through the API', () => {
  it('stores an enqueued mail with its personal fields encrypted', async () => {
    const response = await ctx.api.app.inject({
      method: 'POST',
      url: '/jobs/email/verify',
      headers: auth(),
      payload: { userId: 'api-pd', email: 'api.person@example.com', firstName: 'Apiname', token: 'api-live-token-123' },
    });
    expect(response.statusCode).toBe(202);
    const job = await ctx.api.queues.getQueue('email').getJob('email:verify:api-pd');
    const stored = JSON.stringify(job!.data);
    for (const value of ['api.person@example.com', 'Apiname', 'api-live-token-123']) expect(stored).not.toContain(value);
    expect(job!.data).toEqual({
      userId: 'api-pd',
      $sealed: expect.stringMatching(/^enc:test1:email,firstName,token:/),
      $digest: expect.stringMatching(/^test1:/),
    });
  });

  it('the status route masks addresses in a failure reason (a job failed before the mailer masked them) and returns no payload', async () => {
    const worker = new Worker(
      'email',
      async () => {
        throw new UnrecoverableError('SMTP 550: 550 5.1.1 <juan.reject@example.com>: recipient rejected');
      },
      {
        connection: { host: '127.0.0.1', port: ctx.redis.port, db: ctx.api.config.queues.redisDb },
        prefix: ctx.api.config.queues.bullPrefix,
      },
    );
    try {
      await ctx.api.queues.enqueue('email/welcome', { userId: 'api-old', email: 'juan.reject@example.com', firstName: 'Juan' });
      const body = await waitFor(
        async () => {
          const answer = (await status('email', 'email:welcome:api-old')).json();
          return answer.state === 'failed' && answer;
        },
        { what: 'the job to fail' },
      );
      expect(body.failedReason).toBe('SMTP 550: 550 5.1.1 <j***@example.com>: recipient rejected');
      expect(JSON.stringify(body)).not.toContain('juan.reject@example.com');
      expect(body).not.toHaveProperty('data');
    } finally {
      await worker.close();
    }
  });
});

describe('JOBS_ENCRYPTION_KEYS in the API config', () => {
  it('is required, and a malformed one stops startup naming the variable, never the key', () => {
    expect(() => loadApiConfig({ ...REQUIRED_ENV, API_TOKENS: TOKEN })).toThrow(/^JOBS_ENCRYPTION_KEYS: is required by the API/);
    expect(() => loadApiConfig({ ...REQUIRED_ENV, API_TOKENS: TOKEN, JOBS_ENCRYPTION_KEYS: 'v1:dG9vIHNob3J0' })).toThrow(
      /^JOBS_ENCRYPTION_KEYS: key "v1" is 9 bytes/,
    );
    expect(() => loadApiConfig({ ...REQUIRED_ENV, API_TOKENS: TOKEN, JOBS_ENCRYPTION_KEYS: 'dG9vIHNob3J0' })).toThrow(
      /^JOBS_ENCRYPTION_KEYS: key #1 has no version/,
    );
    expect(
      loadApiConfig({ ...REQUIRED_ENV, API_TOKENS: TOKEN, JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS }).queues.keyring?.current.version,
    ).toBe('test1');
  });
});
