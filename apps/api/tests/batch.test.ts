import { describe, expect, it } from 'vitest';
import { auth, verify, useTestApi } from './helpers';

const ctx = useTestApi();

const batch = (url: string, payload: unknown) => ctx.api.app.inject({ method: 'POST', url, headers: auth(), payload: payload as string });

describe('POST /jobs/:queue/:job/batch', () => {
  it('enqueues every item and lists each jobId/duplicate in request order', async () => {
    const response = await batch('/jobs/email/verify/batch', { items: [verify('b1'), verify('b2'), verify('b1')] });
    expect(response.statusCode).toBe(202);
    expect(response.json()).toEqual({
      queue: 'email',
      job: 'verify',
      items: [
        { jobId: 'email:verify:b1', duplicate: false },
        { jobId: 'email:verify:b2', duplicate: false },
        { jobId: 'email:verify:b1', duplicate: true },
      ],
    });
    expect(await ctx.api.queues.getQueue('email').count()).toBe(2);
  });

  it('applies delay to every item of the batch', async () => {
    const response = await batch('/jobs/files/validate-cv/batch', {
      items: [
        { userId: 'u', fileKey: 'd/1.pdf' },
        { userId: 'u', fileKey: 'd/2.pdf' },
      ],
      delay: 60_000,
    });
    expect(response.statusCode).toBe(202);
    for (const item of response.json().items as Array<{ jobId: string }>) {
      expect(await ctx.api.queues.getQueue('files').getJobState(item.jobId)).toBe('delayed');
    }
  });

  it('rejects the whole batch for one bad item, naming each bad item by index and field; nothing enqueued', async () => {
    const before = await ctx.api.countJobs();
    const response = await batch('/jobs/email/verify/batch', {
      items: [verify('ok-1'), { ...verify('bad-1'), email: 'nope' }, verify('bad:2'), verify('ok-2')],
    });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.code).toBe('INVALID_BODY');
    expect(body.items.map((item: { index: number; issues: Array<{ field: string }> }) => [item.index, item.issues[0]!.field])).toEqual([
      [1, 'email'],
      [2, 'userId'],
    ]);
    expect(await ctx.api.countJobs()).toBe(before);
    expect(await ctx.api.queues.getQueue('email').getJob('email:verify:ok-1')).toBeUndefined();
  });

  it('answers 400 for a batch without items, with none, with more than 1000, or with a disallowed option', async () => {
    const before = await ctx.api.countJobs();
    const cases: Array<[unknown, string]> = [
      [{}, 'items'],
      [{ items: [] }, 'items'],
      [{ items: Array.from({ length: 1001 }, (_, i) => ({ text: `a${i}` })) }, 'items'],
      [{ items: 'nope' }, 'items'],
      [{ items: [{ text: 'a' }], extra: true }, 'extra'],
      [[{ text: 'a' }], ''],
    ];
    for (const [payload, field] of cases) {
      const response = await batch('/jobs/slack/alert/batch', payload);
      expect(response.statusCode, JSON.stringify(payload).slice(0, 80)).toBe(400);
      expect(response.json().code).toBe('INVALID_BODY');
      expect(response.json().issues.map((issue: { field: string }) => issue.field)).toContain(field);
    }
    const priority = await batch('/jobs/slack/alert/batch', { items: [{ text: 'a' }], priority: 2 });
    expect(priority.statusCode).toBe(400);
    expect(priority.json().items[0].issues).toEqual([{ field: 'priority', message: 'priority is not accepted for this job type' }]);
    expect(await ctx.api.countJobs()).toBe(before);
  });

  it('takes 1000 payloads at their longest within the default body limit', async () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({
      userId: `${String(i).padStart(4, '0')}${'u'.repeat(124)}`,
      email: `${'e'.repeat(60)}@${'d'.repeat(60)}.${'d'.repeat(60)}.${'d'.repeat(60)}.example`,
      firstName: 'n'.repeat(100),
      token: 't'.repeat(256),
    }));
    const body = JSON.stringify({ items });
    expect(body.length).toBeGreaterThan(700_000);
    expect(body.length).toBeLessThan(ctx.api.config.bodyLimitBytes);
    const response = await ctx.api.app.inject({
      method: 'POST',
      url: '/jobs/email/welcome/batch',
      headers: { ...auth(), 'content-type': 'application/json' },
      payload: body.replace(/,"token":"t+"/g, ''),
    });
    expect(response.statusCode, response.body.slice(0, 300)).toBe(202);
    expect(response.json().items).toHaveLength(1000);
    const verifyResponse = await ctx.api.app.inject({
      method: 'POST',
      url: '/jobs/email/verify/batch',
      headers: { ...auth(), 'content-type': 'application/json' },
      payload: body,
    });
    expect(verifyResponse.statusCode, verifyResponse.body.slice(0, 300)).toBe(202);
    expect(await ctx.api.queues.getQueue('email').getJob(`email:verify:0999${'u'.repeat(124)}`)).toBeDefined();
  });
});
