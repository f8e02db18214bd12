// `--tenant` of stats, jobs, retry and drain (issue 26, item 6): only that tenant's jobs are counted,
// listed, retried or removed; the others' are untouched. The slack queue holds, per tenant, jobs with
// ids BullMQ numbered (the tenant only in the data: `$tenant`) and deterministic ids (`a@slack:alert:k1`).
import { describe, expect, it } from 'vitest';
import { cli, cliJson, failSlackJobs, useBed } from './helpers';

const bed = useBed();

type Tenant = 'default' | 'a' | 'b';
const TENANTS: Tenant[] = ['default', 'a', 'b'];
/** The jobs each tenant gets in the slack queue: numbered ids, and deterministic ones (a has one more). */
const KEYS: Record<Tenant, string[]> = { default: ['k1'], a: ['k1', 'k2'], b: ['k1'] };
const WAITING: Record<Tenant, number> = { default: 2, a: 3, b: 2 };

const tenantOption = (tenant: Tenant) => (tenant === 'default' ? {} : { tenant });

/** One numbered and the deterministic alerts of each tenant, waiting in slack; one delayed of each. */
async function fill() {
  const producer = bed.producer();
  for (const tenant of TENANTS) {
    await producer.enqueue('slack/alert', { text: `numbered of ${tenant}` }, tenantOption(tenant));
    for (const key of KEYS[tenant])
      await producer.enqueue('slack/alert', { text: `keyed of ${tenant}`, dedupeKey: key }, tenantOption(tenant));
    await producer.enqueue('slack/alert', { text: `later for ${tenant}` }, { ...tenantOption(tenant), delay: 3_600_000 });
  }
  return producer;
}

interface Stats {
  tenant?: string;
  queues: Record<string, { waiting: number; prioritized: number; delayed: number; failed: number; total: number }>;
}

const waitingOf = (stats: Stats) => stats.queues.slack!.waiting + stats.queues.slack!.prioritized;

describe('stats --tenant', () => {
  it("counts only that tenant's jobs, told from the id or the data; without it every tenant's", async () => {
    await fill();
    for (const tenant of TENANTS) {
      const stats = await cliJson<Stats>(bed.env, ['stats', '--tenant', tenant]);
      expect(stats.tenant).toBe(tenant);
      expect(waitingOf(stats)).toBe(WAITING[tenant]);
      expect(stats.queues.slack).toMatchObject({ delayed: 1, failed: 0, total: WAITING[tenant] + 1 });
      expect(stats.queues.email).toMatchObject({ total: 0 });
    }
    const nobody = await cliJson<Stats>(bed.env, ['stats', '--tenant', 'nobody']);
    expect(nobody.queues.slack!.total).toBe(0);

    const all = await cliJson<Stats>(bed.env, ['stats']);
    expect(all.tenant).toBeUndefined();
    expect(waitingOf(all)).toBe(7);
    expect(all.queues.slack!.total).toBe(10);

    const text = await cli(bed.env, ['stats', '--tenant', 'a']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('jobs of tenant a');
    expect(text.stdout).toMatch(/slack\s*│\s*\d+\s*│\s*0\s*│\s*1\s*│/);
  });
});

describe('jobs --tenant', () => {
  it("lists only that tenant's jobs with their tenant; without it every job, each with its tenant", async () => {
    await fill();
    type Listed = { tenant: string; total: number; jobs: Array<{ id: string; tenant: string }> };
    // A tenant's jobs wait in BullMQ's waiting list or prioritized set (fair shares): both are listed.
    const lists = await Promise.all(
      ['waiting', 'prioritized'].map((state) => cliJson<Listed>(bed.env, ['jobs', 'slack', '--state', state, '--tenant', 'a'])),
    );
    expect(lists.map((listed) => listed.tenant)).toEqual(['a', 'a']);
    expect(lists[0]!.total + lists[1]!.total).toBe(3);
    const jobs = lists.flatMap((listed) => listed.jobs);
    expect(jobs.map((job) => job.tenant)).toEqual(['a', 'a', 'a']);
    expect(jobs.map((job) => job.id)).toEqual(expect.arrayContaining(['a@slack:alert:k1', 'a@slack:alert:k2']));
    expect(jobs.some((job) => !job.id.includes(':'))).toBe(true); // the numbered one, told by its data

    const fuller = lists[0]!.total >= lists[1]!.total ? 'waiting' : 'prioritized';
    const limited = await cliJson<Listed>(bed.env, ['jobs', 'slack', '--state', fuller, '--tenant', 'a', '--limit', '1']);
    expect(limited.total).toBe(Math.max(lists[0]!.total, lists[1]!.total));
    expect(limited.jobs).toHaveLength(1);

    const delayed = await cliJson<{ total: number; jobs: Array<{ tenant: string; data: { text: string } }> }>(bed.env, [
      'jobs',
      'slack',
      '--state',
      'delayed',
      '--tenant',
      'b',
    ]);
    expect(delayed.total).toBe(1);
    expect(delayed.jobs[0]).toMatchObject({ tenant: 'b', data: { text: 'later for b' } });

    const every = await cliJson<{ jobs: Array<{ tenant: string }> }>(bed.env, ['jobs', 'slack', '--state', 'delayed']);
    expect(every.jobs.map((job) => job.tenant).sort()).toEqual(['a', 'b', 'default']);

    const text = await cli(bed.env, ['jobs', 'slack', '--state', 'delayed', '--tenant', 'b']);
    expect(text.stdout).toMatch(/id\s*│\s*tenant\s*│\s*name/);
    expect(text.stdout).toMatch(/│\s*b\s*│\s*alert\s*│/);
    expect(text.stdout).toContain('1 of 1 delayed jobs of tenant b in slack');
    expect((await cli(bed.env, ['jobs', 'slack', '--tenant', 'nobody'])).stdout).toContain('no waiting jobs of tenant nobody in slack');
  });
});

describe('retry --all --tenant', () => {
  it("retries that tenant's failed jobs only; a job id with --tenant is a usage error", async () => {
    const producer = await fill();
    await failSlackJobs(bed.env, 7);
    expect(await cliJson(bed.env, ['retry', 'slack', '--all', '--tenant', 'a'])).toEqual({ queue: 'slack', tenant: 'a', retried: 3 });
    const a = await cliJson<Stats>(bed.env, ['stats', '--tenant', 'a']);
    expect(a.queues.slack).toMatchObject({ failed: 0 });
    expect(waitingOf(a)).toBe(3);
    for (const other of ['default', 'b'] as const) {
      const stats = await cliJson<Stats>(bed.env, ['stats', '--tenant', other]);
      expect(stats.queues.slack).toMatchObject({ failed: 2 });
      expect(waitingOf(stats)).toBe(0);
    }
    const retried = await producer.getQueue('slack').getJob('a@slack:alert:k1');
    expect(retried!.attemptsMade).toBe(0);

    expect(await cliJson(bed.env, ['retry', 'slack', '--all', '--tenant', 'a'])).toEqual({ queue: 'slack', tenant: 'a', retried: 0 });
    const text = await cli(bed.env, ['retry', 'slack', '--all', '--tenant', 'b']);
    expect(text.stdout).toBe('2 failed job(s) of tenant b of slack back to waiting with their whole retry schedule\n');
    expect(await producer.getQueue('slack').getFailedCount()).toBe(2);

    expect(await cli(bed.env, ['retry', 'slack', 'a@slack:alert:k1', '--tenant', 'a'])).toMatchObject({
      code: 2,
      stderr: 'ceres-jobs: retry: --tenant goes with --all (a job <id> names one job already)\n',
    });
  });
});

describe('drain --tenant', () => {
  it("removes that tenant's waiting jobs only, after confirmation; delayed jobs and the other tenants' stay", async () => {
    const producer = await fill();
    const slack = producer.getQueue('slack');
    const declined = await cli(bed.env, ['drain', 'slack', '--tenant', 'b'], { stdinTty: true, input: 'n\n' });
    expect(declined.stdout).toContain('Remove the 2 waiting job(s) of tenant b of slack? [y/N]');
    expect(await slack.getJobCountByTypes('waiting', 'prioritized')).toBe(7);

    expect(await cliJson(bed.env, ['drain', 'slack', '--tenant', 'b', '--yes'])).toEqual({ queue: 'slack', tenant: 'b', removed: 2 });
    expect(await slack.getJobCountByTypes('waiting', 'prioritized')).toBe(5);
    expect(await slack.getDelayedCount()).toBe(3);
    expect(waitingOf(await cliJson<Stats>(bed.env, ['stats', '--tenant', 'b']))).toBe(0);
    expect(waitingOf(await cliJson<Stats>(bed.env, ['stats', '--tenant', 'a']))).toBe(3);
    expect(await slack.getJob('b@slack:alert:k1')).toBeUndefined();

    const text = await cli(bed.env, ['drain', 'slack', '--tenant', 'default', '--yes']);
    expect(text.stdout).toBe('removed 2 waiting job(s) of tenant default of slack\n');
    expect(await slack.getJob('a@slack:alert:k1')).toBeDefined();
    expect(await slack.getJobCountByTypes('waiting', 'prioritized')).toBe(3);
  });

  it('pages through queues larger than a page, both tenants interleaved', async () => {
    const producer = bed.producer();
    const many = (tenant: string, from: number) =>
      Array.from({ length: 300 }, (_, index) => ({ text: `alert ${from + index} of ${tenant}` }));
    for (let round = 0; round < 3; round++) {
      await producer.enqueueBulk('slack/alert', many('a', round * 300), { tenant: 'a' });
      await producer.enqueueBulk('slack/alert', many('b', round * 300), { tenant: 'b' });
      await producer.enqueueBulk('slack/alert', many('default', round * 300));
    }
    expect(waitingOf(await cliJson<Stats>(bed.env, ['stats', '--tenant', 'a']))).toBe(900);
    expect(await cliJson(bed.env, ['drain', 'slack', '--tenant', 'a', '--yes'])).toMatchObject({ removed: 900 });
    expect(waitingOf(await cliJson<Stats>(bed.env, ['stats', '--tenant', 'b']))).toBe(900);
    expect(waitingOf(await cliJson<Stats>(bed.env, ['stats', '--tenant', 'default']))).toBe(900);
    expect(await producer.getQueue('slack').getJobCountByTypes('waiting', 'prioritized')).toBe(1800);
  });
});

describe('--tenant is a tenant id', () => {
  it.each([
    [['stats', '--tenant', 'Acme']],
    [['jobs', 'slack', '--tenant', 'a b']],
    [['retry', 'slack', '--all', '--tenant', '']],
    [['drain', 'slack', '--yes', '--tenant', 'x'.repeat(41)]],
  ])('ceres-jobs %j exits 2 naming --tenant', async (args) => {
    const result = await cli(bed.env, args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/option '--tenant <id>' argument .* is invalid\. expected 1-40 lowercase letters/);
  });
});
