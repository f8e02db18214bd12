import { sharedRedis, waitFor, type RedisPeer } from '@ceres/testing';
import { UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config';
import { GOOD_AUTH, startStack, startWorker, type Stack } from './helpers/stack';

let redis: RedisPeer;
let stack: Stack;

beforeAll(async () => {
  redis = sharedRedis();
  stack = await startStack(redis);
});

afterAll(async () => {
  await stack?.close();
});

describe('personal data in the admin API', () => {
  it('GET /api/queues/:queue/jobs masks personal fields, reasons and stack traces like Bull Board', async () => {
    const email = stack.client.getQueue('email');
    const worker = startWorker(stack.config, 'email', async () => {
      throw new UnrecoverableError('SMTP 550: <old.person@example.org> rejected');
    });
    await stack.client.enqueue('email/verify', {
      userId: 'api-new',
      email: 'new.person@example.org',
      firstName: 'Newname',
      token: 'new-live-token-1',
    });
    // Written before encryption: plaintext fields.
    await email.add('welcome', { userId: 'api-old', email: 'old.person@example.org', firstName: 'Oldname' }, { attempts: 1 });
    await waitFor(async () => (await email.getFailedCount()) === 2, { what: 'both jobs to fail' });
    await worker.close();
    const response = await stack.app.inject({
      method: 'GET',
      url: '/api/queues/email/jobs?state=failed&start=0&end=10',
      headers: GOOD_AUTH,
    });
    expect(response.statusCode).toBe(200);
    const text = response.body;
    for (const secret of ['new.person@example.org', 'Newname', 'new-live-token-1', 'old.person@example.org', 'Oldname', '$digest'])
      expect(text).not.toContain(secret);
    const jobs = response.json().jobs as Array<{ data: Record<string, string>; failedReason: string }>;
    const old = jobs.find((job) => job.data.userId === 'api-old')!;
    expect(old.data).toEqual({ userId: 'api-old', email: 'o***@example.org', firstName: '[hidden]' });
    expect(old.failedReason).toBe('SMTP 550: <o***@example.org> rejected');
    const fresh = jobs.find((job) => job.data.userId === 'api-new')!;
    expect(fresh.data).toEqual({
      userId: 'api-new',
      email: '[encrypted, key test1]',
      firstName: '[encrypted, key test1]',
      token: '[encrypted, key test1]',
    });
  });
});

describe('queues-ui config', () => {
  const base = { QUEUES_UI_PASS: 'correct horse battery staple' };
  it('needs no JOBS_ENCRYPTION_KEYS, but a malformed one stops startup naming the variable', () => {
    expect(loadConfig(base).queues.keyring).toBeUndefined();
    expect(() => loadConfig({ ...base, JOBS_ENCRYPTION_KEYS: 'v1:dG9vIHNob3J0' })).toThrow(/^JOBS_ENCRYPTION_KEYS: key "v1" is 9 bytes/);
  });

  it('DATABASE_URL is optional (erasure only) and checked when set', () => {
    expect(loadConfig(base).databaseUrl).toBeUndefined();
    expect(() => loadConfig({ ...base, DATABASE_URL: 'mysql://x' })).toThrow(/^DATABASE_URL/);
    expect(loadConfig({ ...base, DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/ceres' }).databaseUrl).toBe(
      'postgres://u:p@127.0.0.1:5432/ceres',
    );
  });
});
