import { decryptJobPayload, JOB_TYPES, validatePayload } from '@ceres/queues';
import { describe, expect, it } from 'vitest';
import { PLATFORM_JOB_TYPES } from '../src/enqueue/platform-job-types';
import { auth, startApi, validPayloads, verify, useTestApi } from './helpers';

const ctx = useTestApi();

const post = (url: string, payload: unknown, headers: Record<string, string> = auth()) =>
  ctx.api.app.inject({ method: 'POST', url, headers, payload: payload as string });

/** The catalog's platform job types (their definitions say `enqueuedBy: 'platform'`), in catalog order. */
const KNOWN: string[] = JOB_TYPES.filter(({ definition }) => definition.enqueuedBy === 'platform').map(({ type }) => type);
const WORKER_ONLY: string[] = JOB_TYPES.filter(({ definition }) => definition.enqueuedBy === 'worker').map(({ type }) => type);

describe('POST /jobs/:queue/:job', () => {
  it('offers exactly the job types the platform enqueues', () => {
    expect(PLATFORM_JOB_TYPES.map((type) => `${type.queue}/${type.job}`)).toEqual(KNOWN);
    // The catalog as the definitions have it: the mails, the files jobs and alerts, not the worker's own.
    expect(KNOWN).toEqual(
      expect.arrayContaining(['email/verify', 'email/welcome', 'files/optimize-profile-picture', 'files/validate-cv', 'slack/alert']),
    );
    expect(WORKER_ONLY).toEqual(expect.arrayContaining(['maintenance/daily-report', 'newsletter/send', 'slack/dead-letter-digest']));
    expect(KNOWN.length + WORKER_ONLY.length).toBe(JOB_TYPES.length);
  });

  it.each(WORKER_ONLY)('%s: 404, the worker enqueues it', async (type) => {
    const response = await post(`/jobs/${type}`, {});
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'UNKNOWN_JOB_TYPE', known: KNOWN });
  });

  it.each(KNOWN)('%s: 202 with the job id, and the job holds the payload', async (type) => {
    const [queue, job] = type.split('/') as [string, string];
    const response = await post(`/jobs/${type}`, validPayloads[type]);
    expect(response.statusCode).toBe(202);
    const body = response.json();
    expect(body).toMatchObject({ queue, job, duplicate: false });
    expect(body.jobId).toMatch(new RegExp(`^${queue}:${job}:`));
    const stored = await ctx.api.queues.getQueue(queue as 'email').getJob(body.jobId);
    expect(stored?.name).toBe(job);
    // Personal fields are stored encrypted; decrypted, the job holds exactly the payload.
    expect(decryptJobPayload(ctx.api.config.queues.keyring, type, stored?.data)).toEqual(validPayloads[type]);
  });

  it.each([
    ['a lone surrogate in firstName', 'email/welcome', '{"userId":"u-s","email":"s@example.com","firstName":"Ana\\ud800"}', 'firstName'],
    ['a NUL in text', 'slack/alert', '{"text":"disk\\u0000full"}', 'text'],
  ])('400 for %s (PostgreSQL could not archive it), nothing enqueued', async (_what, type, body, field) => {
    const [queue] = type.split('/') as ['email' | 'slack'];
    const before = await ctx.api.queues.getQueue(queue).count();
    const response = await ctx.api.app.inject({
      method: 'POST',
      url: `/jobs/${type}`,
      headers: { ...auth(), 'content-type': 'application/json' },
      payload: body,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'INVALID_BODY',
      issues: [{ field, message: expect.stringMatching(/NUL character or a lone UTF-16 surrogate/) }],
    });
    expect(await ctx.api.queues.getQueue(queue).count()).toBe(before);
  });

  it('passes delay and priority where the job type allows them, and keeps them out of the payload', async () => {
    const delayed = await post('/jobs/email/welcome', { userId: 'delayed-1', email: 'a@example.com', firstName: 'A', delay: 60_000 });
    expect(delayed.statusCode).toBe(202);
    const jobId = delayed.json().jobId as string;
    expect(await ctx.api.queues.getQueue('email').getJobState(jobId)).toBe('delayed');
    const stored = (await ctx.api.queues.getQueue('email').getJob(jobId))?.data;
    expect(decryptJobPayload(ctx.api.config.queues.keyring, 'email/welcome', stored)).toEqual({
      userId: 'delayed-1',
      email: 'a@example.com',
      firstName: 'A',
    });

    const urgent = await post('/jobs/files/validate-cv', { userId: 'u', fileKey: 'cv/urgent.pdf', priority: 1 });
    expect(urgent.statusCode).toBe(202);
    expect(await ctx.api.queues.getQueue('files').getJobState(urgent.json().jobId)).toBe('prioritized');

    const alert = await post('/jobs/slack/alert', { text: 'later', dedupeKey: 'later-1', delay: 1000 });
    expect(alert.statusCode).toBe(202);
  });

  it('refuses an option the job type does not take (slack/alert has no priority), enqueueing nothing', async () => {
    const before = await ctx.api.countJobs();
    const response = await post('/jobs/slack/alert', { text: 'x', dedupeKey: 'no-priority', priority: 1 });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'INVALID_BODY',
      issues: [{ field: 'priority', message: 'priority is not accepted for this job type' }],
    });
    expect(await ctx.api.countJobs()).toBe(before);
  });

  it('answers 400 listing every bad field with the producers’ own messages, enqueueing nothing', async () => {
    const before = await ctx.api.countJobs();
    const bad = { userId: '', email: 'not-an-email', token: 'short', extra: 1 };
    const response = await post('/jobs/email/verify', bad);
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.code).toBe('INVALID_BODY');
    expect(body.issues).toEqual(validatePayload('email', 'verify', bad));
    expect(body.issues.map((issue: { field: string }) => issue.field).sort()).toEqual(
      ['email', 'extra', 'firstName', 'token', 'userId'].sort(),
    );
    expect(body.message).toContain('email must be a valid email address');
    expect(body).not.toHaveProperty('stack');
    expect(await ctx.api.countJobs()).toBe(before);
  });

  it('answers 400 naming the key field when the business key cannot make a job id', async () => {
    const response = await post('/jobs/email/verify', verify('user:with:colons'));
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_BODY', issues: [{ field: 'userId' }] });
    expect(response.json().message).toMatch(/: userId must not contain ":"/);
  });

  it('answers 400 for a body that is not a JSON object, empty, malformed or poisoned', async () => {
    const json = { ...auth(), 'content-type': 'application/json' };
    for (const payload of ['[1,2]', '"text"', 'null', '42']) {
      const response = await post('/jobs/email/verify', payload, json);
      expect(response.statusCode, payload).toBe(400);
      expect(response.json(), payload).toMatchObject({
        code: 'INVALID_BODY',
        issues: [{ field: '', message: 'payload must be an object' }],
      });
    }
    expect((await post('/jobs/email/verify', '', json)).json()).toMatchObject({
      code: 'INVALID_BODY',
      message: 'the body is empty; send a JSON object',
    });
    expect((await post('/jobs/email/verify', '{"userId":', json)).json()).toEqual({
      code: 'INVALID_BODY',
      message: 'the body is not valid JSON',
    });
    const poisoned = await post('/jobs/email/verify', '{"__proto__":{"admin":true}}', json);
    expect(poisoned.statusCode).toBe(400);
    expect(poisoned.json().code).toBe('INVALID_BODY');
    // It is valid JSON: the answer says what is refused, not that the JSON is broken.
    for (const body of ['{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{"admin":true}}}']) {
      const message = (await post('/jobs/email/verify', body, json)).json().message as string;
      expect(message, body).not.toMatch(/not valid JSON/);
      expect(message, body).toMatch(/forbidden "__proto__" or "constructor\.prototype" key/);
    }
  });

  it('answers 404 for an unknown queue or job type, listing the known ones (scheduler jobs included)', async () => {
    for (const url of ['/jobs/email/nope', '/jobs/nope/verify', '/jobs/maintenance/daily-report', '/jobs/nope/verify/batch']) {
      const response = await post(url, {});
      expect(response.statusCode, url).toBe(404);
      expect(response.json(), url).toMatchObject({ code: 'UNKNOWN_JOB_TYPE', known: KNOWN });
      expect(response.json().message, url).toContain(`known job types: ${KNOWN.join(', ')}`);
    }
    const elsewhere = await ctx.api.app.inject({ method: 'GET', url: '/nowhere', headers: auth() });
    expect(elsewhere.statusCode).toBe(404);
    expect(elsewhere.json().code).toBe('NOT_FOUND');
  });

  it('answers 415 for a body that is not JSON', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const response = await post('/jobs/email/verify', 'userId=1', { ...auth(), 'content-type': type });
      expect(response.statusCode, type).toBe(415);
      expect(response.json(), type).toMatchObject({ code: 'UNSUPPORTED_MEDIA_TYPE' });
    }
  });

  it('enqueues the same business key twice as one job: same id, the second a duplicate', async () => {
    const first = await post('/jobs/email/verify', verify('twice'));
    const second = await post('/jobs/email/verify', verify('twice'));
    expect(first.json()).toEqual({ jobId: 'email:verify:twice', queue: 'email', job: 'verify', duplicate: false });
    expect(second.json()).toEqual({ jobId: 'email:verify:twice', queue: 'email', job: 'verify', duplicate: true });
    expect(second.statusCode).toBe(202);
    const waiting = await ctx.api.queues.getQueue('email').getJobs(['wait']);
    expect(waiting.filter((job) => job.id === 'email:verify:twice')).toHaveLength(1);
  });

  it('turns 50 concurrent requests for one key into one job and one non-duplicate', async () => {
    const before = await ctx.api.countJobs();
    const responses = await Promise.all(
      Array.from({ length: 50 }, () => post('/jobs/files/optimize-profile-picture', { userId: 'u', fileKey: 'race.png' })),
    );
    expect(responses.map((response) => response.statusCode)).toEqual(Array(50).fill(202));
    const bodies = responses.map((response) => response.json() as { jobId: string; duplicate: boolean });
    expect(new Set(bodies.map((body) => body.jobId))).toEqual(new Set(['files:optimize-profile-picture:race.png']));
    expect(bodies.filter((body) => !body.duplicate)).toHaveLength(1);
    expect(await ctx.api.countJobs()).toBe(before + 1);
  });
});

describe('body limit', () => {
  it('answers 413 naming the limit for a body over API_BODY_LIMIT_BYTES, enqueueing nothing', async () => {
    const small = await startApi(ctx.redis, { API_BODY_LIMIT_BYTES: '2048' });
    try {
      const response = await small.app.inject({
        method: 'POST',
        url: '/jobs/slack/alert',
        headers: auth(),
        payload: { text: 'x'.repeat(2500), dedupeKey: 'big' },
      });
      expect(response.statusCode).toBe(413);
      expect(response.json()).toEqual({
        code: 'PAYLOAD_TOO_LARGE',
        message: 'the request body is larger than 2048 bytes (API_BODY_LIMIT_BYTES)',
      });
      const fits = await small.app.inject({
        method: 'POST',
        url: '/jobs/slack/alert',
        headers: auth(),
        payload: { text: 'x'.repeat(1500) },
      });
      expect(fits.statusCode).toBe(202);
      expect(await small.countJobs()).toBe(1);
    } finally {
      await small.close();
    }
  });
});

// Issue 24 item 24: `.K@2.1.m` passed the published pattern (and so the route) while its `format:
// email` refuses it. One rule: the route's verdict is the published pattern's, and both follow the
// dot-atom of RFC 5321 (no leading, trailing or doubled dot in the local part).
describe('e-mail addresses', () => {
  const addresses: Array<[string, boolean]> = [
    ['ana@example.com', true],
    ['ana.maria+tag@mail.example.co', true],
    ["o'brien_x-y@2.1.m", true],
    ['.K@2.1.m', false],
    ['ana.@example.com', false],
    ['ana..maria@example.com', false],
    ['.@example.com', false],
    ['ana@example', false],
    ['ana@-example.com', false],
    ['ana@example.com.', false],
    [`${'a'.repeat(65)}@example.com`, false],
    [`${'a'.repeat(64)}@example.com`, true],
  ];

  it.each(addresses)(
    '%s: accepted %s by the route (else 400 naming email) and by the pattern the OpenAPI document publishes',
    async (address, valid) => {
      const doc = (await ctx.api.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
        paths: Record<
          string,
          {
            post: {
              requestBody: { content: Record<string, { schema: { properties: Record<string, { pattern?: string; format?: string }> } }> };
            };
          }
        >;
      };
      const published = doc.paths['/jobs/email/welcome']!.post.requestBody.content['application/json']!.schema.properties.email!;
      expect(published.format).toBe('email');
      expect(new RegExp(published.pattern!).test(address)).toBe(valid);
      const response = await post('/jobs/email/welcome', {
        userId: `addr-${addresses.findIndex(([a]) => a === address)}`,
        email: address,
        firstName: 'A',
      });
      expect(response.statusCode).toBe(valid ? 202 : 400);
      if (!valid) expect(response.json()).toMatchObject({ code: 'INVALID_BODY', field: 'email' });
    },
  );
});
