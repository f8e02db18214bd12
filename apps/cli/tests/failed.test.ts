import { encryptField, parseKeyring } from '@ceres/queues';
import { testEncryptionKey } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { cli, cliJson, useBed } from './helpers';

const bed = useBed();

type Failures = { failures: Array<Record<string, unknown> & { id: number }> };

/** Runs `work --stop-when-empty` in this process until the queues are empty. */
async function workUntilEmpty(env: Record<string, string>) {
  const result = await cli(env, ['work', '--stop-when-empty']);
  expect(result.code, result.stderr).toBe(0);
  return result;
}

describe('failed retry: replaying from the PostgreSQL archive', () => {
  it('a verify job dead-letters, Redis drops it, `failed retry <id>` delivers the mail; a second retry does nothing and says so', async () => {
    const token = 'tok-replay-123456';
    await bed.db.tokens.insert({ token, userId: 'u1', expiresAt: new Date(Date.now() + 3_600_000) });
    bed.peers.smtp.setRules([{ match: 'ana@example.com', code: 550 }]);
    const producer = bed.producer();
    const { jobId } = await producer.enqueue('email/verify', { userId: 'u1', email: 'ana@example.com', firstName: 'Ana', token });
    await workUntilEmpty(bed.env);

    const email = producer.getQueue('email');
    expect(await email.getJobState(jobId)).toBe('failed');
    const { failures } = await cliJson<Failures>(bed.env, ['failed', 'list']);
    expect(failures).toHaveLength(1);
    const id = failures[0]!.id;
    expect(failures[0]).toEqual({
      id,
      queue: 'email',
      jobName: 'verify',
      jobId,
      payload: { userId: 'u1', email: '[masked]', firstName: '[masked]', token: '[masked]' },
      error: expect.stringMatching(/550/),
      attemptsMade: 1,
      failedAt: expect.any(String),
      retriedAt: null,
      retriedJobId: null,
    });
    expect(JSON.stringify(failures)).not.toMatch(/ana@example\.com|Ana"|tok-replay/);

    // As retention would, after 24 h.
    await email.remove(jobId);
    bed.peers.smtp.setRules([]);
    bed.peers.smtp.messages.length = 0;

    const replayed = await cliJson(bed.env, ['failed', 'retry', String(id)]);
    expect(replayed).toEqual({ replayed: 1, results: [{ id, outcome: 'replayed', how: 'enqueued', jobId }] });
    await workUntilEmpty(bed.env);
    const [mail] = await bed.peers.smtp.waitForMessages(1);
    expect(mail!.envelope.to).toEqual(['ana@example.com']);
    expect(mail!.parsed.text).toContain(`https://ceres.example/verify?token=${token}`);
    expect(await email.getJobState(jobId)).toBe('completed');

    const second = await cli(bed.env, ['failed', 'retry', String(id)]);
    expect(second.code).toBe(1);
    expect(second.stdout).toMatch(new RegExp(`^#${id}: already retried at \\d{4}-.+Z as job ${jobId}; nothing done\\n$`));
    expect(await email.getJobCountByTypes('waiting', 'delayed', 'prioritized', 'active')).toBe(0);
    await workUntilEmpty(bed.env);
    expect(bed.peers.smtp.messages).toHaveLength(1);

    const [row] = (await cliJson<Failures>(bed.env, ['failed', 'list'])).failures;
    expect(row).toMatchObject({ id, retriedAt: expect.stringMatching(/Z$/), retriedJobId: jobId });
  }, 60_000);

  it('a failed job Redis still keeps is retried there (an enqueue would be a duplicate) and runs once more', async () => {
    bed.peers.smtp.setRules([{ match: 'bo@example.com', code: 550 }]);
    const producer = bed.producer();
    const { jobId } = await producer.enqueue('email/welcome', { userId: 'u2', email: 'bo@example.com', firstName: 'Bo' });
    await workUntilEmpty(bed.env);
    const email = producer.getQueue('email');
    expect(await email.getJobState(jobId)).toBe('failed');
    // welcome's duplicate window is `retention`: a plain enqueue of the same user is a duplicate now.
    expect((await producer.enqueue('email/welcome', { userId: 'u2', email: 'bo@example.com', firstName: 'Bo' })).duplicate).toBe(true);
    bed.peers.smtp.setRules([]);

    const [{ id }] = (await cliJson<Failures>(bed.env, ['failed', 'list', '--queue', 'email'])).failures as [{ id: number }];
    expect(await cliJson(bed.env, ['failed', 'retry', String(id)])).toEqual({
      replayed: 1,
      results: [{ id, outcome: 'replayed', how: 'retried-in-redis', jobId }],
    });
    const job = await email.getJob(jobId);
    expect(await job!.getState()).toBe('waiting');
    expect(job!.attemptsMade).toBe(0);
    await workUntilEmpty(bed.env);
    expect(await email.getJobState(jobId)).toBe('completed');
    expect(bed.peers.smtp.messages.map((mail) => mail.envelope.to)).toEqual([['bo@example.com']]);
  }, 60_000);

  it('--all replays every row not retried yet (of --queue), and leaves a row whose job is pending in Redis', async () => {
    const producer = bed.producer();
    const failedAt = new Date('2026-11-01T10:00:00Z');
    const archive = (queue: string, jobName: string, jobId: string, payload: unknown, at = failedAt) =>
      bed.db.failedJobs.archive({ queue, jobName, jobId, payload, error: 'x', attemptsMade: 6, failedAt: at });
    await archive('email', 'welcome', 'email:welcome:a1', { userId: 'a1', email: 'a1@example.com', firstName: 'A' });
    await archive('email', 'welcome', 'email:welcome:a2', { userId: 'a2', email: 'a2@example.com', firstName: 'A' });
    await archive('email', 'welcome', 'email:welcome:a3', { userId: 'a3', email: 'a3@example.com', firstName: 'A' });
    await archive('slack', 'alert', 'slack:alert:disk', { text: 'disk full', severity: 'warning', dedupeKey: 'disk' });
    await producer.enqueue('email/welcome', { userId: 'a3', email: 'a3@example.com', firstName: 'A' });

    const result = await cli(bed.env, ['failed', 'retry', '--all', '--queue', 'email', '--json']);
    expect(result.code).toBe(1);
    const { replayed, results } = JSON.parse(result.stdout) as { replayed: number; results: Array<Record<string, unknown>> };
    expect(replayed).toBe(2);
    expect(results.map((r) => [r.outcome, r.jobId ?? r.reason])).toEqual([
      ['replayed', 'email:welcome:a1'],
      ['replayed', 'email:welcome:a2'],
      ['not-replayed', 'job email:welcome:a3 is waiting in Redis already'],
    ]);
    expect(await producer.getQueue('email').getWaitingCount()).toBe(3);
    expect(await producer.getQueue('slack').getWaitingCount()).toBe(0);

    const rest = await cliJson<{ replayed: number; results: Array<Record<string, unknown>> }>(bed.env, [
      'failed',
      'retry',
      '--all',
      '--queue',
      'slack',
    ]);
    expect(rest.results).toEqual([{ id: expect.any(Number), outcome: 'replayed', how: 'enqueued', jobId: 'slack:alert:disk' }]);
    const text = await cli(bed.env, ['failed', 'retry', '--all']);
    expect(text.stdout).toMatch(
      /#\d+: not retried: job email:welcome:a3 is waiting in Redis already\n0 of 1 archived failure\(s\) retried\n$/,
    );
    expect(text.stdout).not.toContain('@example.com');
  });

  it('a row encrypted with an older key listed in the ring is re-encrypted with the current one; with that key removed it stays replayable', async () => {
    const old = testEncryptionKey('v0');
    const sealed = (userId: string) => {
      const keyring = parseKeyring(old);
      const seal = (field: string, value: string) => encryptField(keyring, 'email/welcome', field, value);
      return { userId, email: seal('email', `${userId}@example.com`), firstName: seal('firstName', 'Rosa') };
    };
    const archive = (userId: string) =>
      bed.db.failedJobs.archive({
        queue: 'email',
        jobName: 'welcome',
        jobId: `email:welcome:${userId}`,
        payload: sealed(userId),
        error: 'x',
        attemptsMade: 6,
        failedAt: new Date(),
      });
    await archive('k1');
    await archive('k2');
    const [second, first] = (await cliJson<Failures>(bed.env, ['failed', 'list'])).failures.map((row) => row.id);

    const withOld = { ...bed.env, JOBS_ENCRYPTION_KEYS: `${bed.env.JOBS_ENCRYPTION_KEYS},${old}` };
    expect(await cliJson(withOld, ['failed', 'retry', String(first)])).toEqual({
      replayed: 1,
      results: [{ id: first, outcome: 'replayed', how: 'enqueued', jobId: 'email:welcome:k1' }],
    });
    const stored = (await bed.producer().getQueue('email').getJob('email:welcome:k1'))!.data as Record<string, string>;
    expect(stored.$sealed).toMatch(/^enc:test1:email,firstName:/);
    expect(stored.email).toBeUndefined();
    await cli(bed.env, ['work', '--stop-when-empty']);
    expect(bed.peers.smtp.messages.map((mail) => mail.envelope.to)).toEqual([['k1@example.com']]);

    const refused = await cli(bed.env, ['failed', 'retry', String(second)]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe(
      `#${second}: not retried: cannot decrypt the archived payload: email: encrypted with key "v0", which JOBS_ENCRYPTION_KEYS does not list (listed: test1)\n`,
    );
    expect(await bed.producer().getQueue('email').getJob('email:welcome:k2')).toBeUndefined();
    const [row] = (await cliJson<Failures>(bed.env, ['failed', 'list'])).failures.filter((each) => each.id === second);
    expect(row).toMatchObject({ retriedAt: null, payload: { userId: 'k2', email: '[masked]', firstName: '[masked]' } });
  }, 60_000);

  it('an unknown id says so with exit 1; a bad id is a usage error', async () => {
    expect(await cli(bed.env, ['failed', 'retry', '999999'])).toMatchObject({
      code: 1,
      stdout: '#999999: no archived failure with this id\n',
    });
    expect((await cli(bed.env, ['failed', 'retry'])).code).toBe(2);
    expect((await cli(bed.env, ['failed', 'retry', '1', '--all'])).code).toBe(2);
  });
});

describe('failed list, forget, flush', () => {
  it('filters by queue and time, forgets one row, flushes before a date or all', async () => {
    const archive = (queue: string, jobId: string, at: string) =>
      bed.db.failedJobs.archive({
        queue,
        jobName: 'welcome',
        jobId,
        payload: { userId: jobId },
        error: `refused ${jobId}@example.com`,
        attemptsMade: 6,
        failedAt: new Date(at),
      });
    await archive('email', 'old', '2026-01-01T00:00:00Z');
    await archive('email', 'recent', new Date(Date.now() - 3_600_000).toISOString());
    await archive('files', 'other', new Date(Date.now() - 60_000).toISOString());

    const all = (await cliJson<Failures>(bed.env, ['failed', 'list'])).failures;
    expect(all.map((row) => row.jobId)).toEqual(['other', 'recent', 'old']);
    expect(all[0]!.error).toBe('refused [email]');
    expect((await cliJson<Failures>(bed.env, ['failed', 'list', '--queue', 'email'])).failures.map((row) => row.jobId)).toEqual([
      'recent',
      'old',
    ]);
    expect((await cliJson<Failures>(bed.env, ['failed', 'list', '--since', '2h'])).failures.map((row) => row.jobId)).toEqual([
      'other',
      'recent',
    ]);
    expect(
      (await cliJson<Failures>(bed.env, ['failed', 'list', '--since', '2026-06-01', '--limit', '1'])).failures.map((row) => row.jobId),
    ).toEqual(['other']);
    const table = await cli(bed.env, ['failed', 'list']);
    expect(table.stdout).toMatch(/│\s*email\s*│\s*welcome\s*│\s*recent\s*│/);

    const other = all[0]!.id;
    expect(await cliJson(bed.env, ['failed', 'forget', String(other)])).toEqual({ id: other, forgotten: true });
    expect(await cli(bed.env, ['failed', 'forget', String(other)])).toMatchObject({
      code: 1,
      stderr: `ceres-jobs: no archived failure #${other}\n`,
    });

    expect(await cliJson(bed.env, ['failed', 'flush', '--before', '2026-06-01T00:00:00Z'])).toEqual({
      removed: 1,
      before: '2026-06-01T00:00:00.000Z',
    });
    expect((await cliJson<Failures>(bed.env, ['failed', 'list'])).failures.map((row) => row.jobId)).toEqual(['recent']);
    expect(await cliJson(bed.env, ['failed', 'flush'])).toEqual({ removed: 1, before: null });
    expect(await cli(bed.env, ['failed', 'list'])).toMatchObject({ code: 0, stdout: 'no archived failures\n' });
  });
});
