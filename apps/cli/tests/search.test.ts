// `ceres-jobs jobs search` (issue 29): the job ledger in PostgreSQL, keyset-paginated, plus the jobs
// with the key still in flight in Redis; masked; bad input exits 2 naming the option; a
// tenant-scoped account finds its tenant's jobs only.
import type { LedgerRow } from '@ceres/db';
import { describe, expect, it } from 'vitest';
import { cli, cliJson, useBed } from './helpers';

const bed = useBed();

const at = (minute: number) => new Date(Date.UTC(2026, 11, 1, 12, minute));
const row = (over: Partial<LedgerRow> & Pick<LedgerRow, 'jobId' | 'finishedAt'>): LedgerRow => ({
  queue: 'email',
  jobType: 'welcome',
  tenant: 'default',
  keyField: 'userId',
  key: 'cli-u1',
  state: 'completed',
  enqueuedAt: new Date(over.finishedAt.getTime() - 2_000),
  startedAt: new Date(over.finishedAt.getTime() - 1_000),
  attempts: 1,
  result: '{"sent":true,"messageId":"<m1@ceres>"}',
  error: null,
  ...over,
});

interface Found {
  jobs: Array<{
    source: string;
    queue: string;
    type: string;
    jobId: string;
    tenant: string;
    state: string;
    error: string | null;
    result: unknown;
  }>;
  inFlight: Array<{ source: string; jobId: string; state: string }>;
  nextCursor: string | null;
}

describe('jobs search', () => {
  it("finds a user's jobs across queues, newest first, a page at a time, with the in-flight one; masked", async () => {
    await bed.db.jobLedger.insertMany([
      row({ jobId: 'email:welcome:cli-u1', finishedAt: at(1) }),
      row({ queue: 'files', jobType: 'validate-cv', jobId: '17', finishedAt: at(2), result: null }),
      row({
        queue: 'newsletter',
        jobType: 'send',
        jobId: 'newsletter:send:c1.cli-u1',
        finishedAt: at(3),
        state: 'failed',
        result: null,
        error: 'mail to ana.cli@example.com refused: 550',
      }),
      row({ jobId: 'email:welcome:cli-u2', key: 'cli-u2', finishedAt: at(4) }),
      row({ jobId: 'acme@email:welcome:cli-u1', tenant: 'acme', finishedAt: at(5) }),
    ]);
    const producer = bed.producer();
    // No worker runs: it waits.
    const waiting = await producer.enqueue('email/verify', {
      userId: 'cli-u1',
      email: 'ana.cli@example.com',
      firstName: 'Ana',
      token: 'tok123',
    });

    const first = await cliJson<Found>(bed.env, ['jobs', 'search', '--key', 'cli-u1', '--tenant', 'default', '--limit', '2']);
    expect(first.jobs.map((job) => `${job.queue}/${job.type}:${job.state}`)).toEqual([
      'newsletter/send:failed',
      'files/validate-cv:completed',
    ]);
    expect(first.inFlight).toEqual([expect.objectContaining({ source: 'redis', jobId: waiting.jobId, state: 'waiting' })]);
    expect(first.nextCursor).toEqual(expect.any(String));
    expect(first.jobs[0]!.error).not.toContain('ana.cli@example.com');
    expect(first.jobs[0]!.error).toContain('550');

    const second = await cliJson<Found>(bed.env, [
      'jobs',
      'search',
      '--key',
      'cli-u1',
      '--tenant',
      'default',
      '--limit',
      '2',
      '--cursor',
      first.nextCursor!,
    ]);
    expect(second.jobs.map((job) => job.jobId)).toEqual(['email:welcome:cli-u1']);
    expect(second.jobs[0]!.result).toEqual({ sent: true, messageId: '<m1@ceres>' });
    expect(second.inFlight).toEqual([]);
    expect(second.nextCursor).toBeNull();

    // Every tenant (the OS user is an admin of all): acme's row too.
    const all = await cliJson<Found>(bed.env, ['jobs', 'search', '--key', 'cli-u1']);
    expect(all.jobs.map((job) => job.tenant)).toEqual(['acme', 'default', 'default', 'default']);
    // Filters: state, queue, type, error text, time.
    expect(
      (await cliJson<Found>(bed.env, ['jobs', 'search', '--state', 'failed', '--error', 'REFUSED'])).jobs.map((job) => job.jobId),
    ).toEqual(['newsletter:send:c1.cli-u1']);
    expect(
      (await cliJson<Found>(bed.env, ['jobs', 'search', '--type', 'email/welcome', '--since', at(2).toISOString()])).jobs,
    ).toHaveLength(2);
    expect(
      (await cliJson<Found>(bed.env, ['jobs', 'search', '--queue', 'files', '--until', at(3).toISOString()])).jobs.map((job) => job.jobId),
    ).toEqual(['17']);
    expect((await cliJson<Found>(bed.env, ['jobs', 'search', '--key', 'cli-u1', '--state', 'waiting'])).jobs).toEqual([]);

    const text = await cli(bed.env, ['jobs', 'search', '--key', 'cli-u1', '--tenant', 'default']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('newsletter');
    expect(text.stdout).toMatch(/1 in flight, 3 finished, newest first\n$/);
    expect(text.stdout).not.toContain('ana.cli@example.com');
  }, 30_000);

  it('bad input exits 2 naming the option', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--state', 'lost'], /--state/],
      [['--cursor', 'not-a-cursor'], /--cursor/],
      [['--since', '2026-12-02', '--until', '2026-12-01'], /--until/],
      [['--type', 'email/nope'], /--type/],
      [['--limit', '0'], /--limit/],
      [['--since', 'yesterday'], /--since/],
      // In flight is looked up by key only.
      [['--state', 'waiting'], /--state: waiting jobs are found by key only/],
    ];
    for (const [args, named] of cases) {
      const result = await cli(bed.env, ['jobs', 'search', ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(named);
    }
  });

  it("a tenant-scoped viewer finds its tenant's jobs only", async () => {
    await bed.db.tenants.add('north', { name: 'North' });
    await bed.db.jobLedger.insertMany([
      row({ jobId: 'north@email:welcome:cli-n1', tenant: 'north', key: 'cli-n1', finishedAt: at(10) }),
      row({ jobId: 'email:welcome:cli-n1', key: 'cli-n1', finishedAt: at(11) }),
    ]);
    const added = await cliJson<{ password: string }>(bed.env, ['users', 'add', 'nora', '--role', 'viewer', '--tenant', 'north']);
    const asNora = { ...bed.env, CERES_JOBS_USER: 'nora', CERES_JOBS_PASSWORD: added.password };
    const found = await cliJson<Found>(asNora, ['jobs', 'search', '--key', 'cli-n1']);
    expect(found.jobs.map((job) => job.jobId)).toEqual(['north@email:welcome:cli-n1']);
    const refused = await cli(asNora, ['jobs', 'search', '--key', 'cli-n1', '--tenant', 'default']);
    expect(refused.code).toBe(1);
  }, 30_000);
});
