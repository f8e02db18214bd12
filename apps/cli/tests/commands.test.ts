import { createRedisConnection, JobTimings, loadQueuesConfig } from '@ceres/queues';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, startRedisServer, waitFor } from '@ceres/testing';
import { UnrecoverableError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { cli, cliJson, spawnCli, useBed } from './helpers';

const bed = useBed();

const person = (userId: string) => ({ userId, email: `${userId}@example.com`, firstName: 'Juana' });

/** Fails the next `count` jobs of `queue` for good, with a real BullMQ worker. */
async function failJobs(queue: 'email' | 'files', count: number) {
  const producer = bed.producer();
  const connection = createRedisConnection(producer.config, 'worker');
  connection.on('error', () => {});
  let failed = 0;
  const worker = new Worker(
    queue,
    async () => {
      throw new UnrecoverableError('refused by juana@example.com');
    },
    { connection, prefix: loadQueuesConfig(bed.env).bullPrefix },
  );
  worker.on('failed', () => failed++);
  await waitFor(() => failed >= count, { what: `${count} failed jobs` });
  await worker.close();
  connection.disconnect();
}

describe('stats', () => {
  it('prints every queue with its seven fields, as JSON and as a table', async () => {
    const producer = bed.producer();
    await producer.enqueue('email/welcome', person('u1'));
    await producer.enqueue('email/welcome', person('u2'));
    await producer.enqueue('email/welcome', person('u3'), { delay: 60_000 });
    await producer.enqueue('email/welcome', person('u4'), { priority: 5 });
    await producer.getQueue('slack').pause();

    const { queues } = await cliJson<{ queues: Record<string, Record<string, unknown>> }>(bed.env, ['stats']);
    expect(Object.keys(queues).sort()).toEqual(['email', 'files', 'maintenance', 'newsletter', 'slack']);
    expect(queues.email).toEqual({
      name: 'email',
      waiting: 2,
      active: 0,
      delayed: 1,
      prioritized: 1,
      failed: 0,
      completed: 0,
      total: 4,
      paused: false,
      oldestWaitingSeconds: expect.any(Number),
      waitP95Seconds: null,
    });
    expect(queues.files).toMatchObject({ oldestWaitingSeconds: 0 });
    expect(queues.slack).toMatchObject({ name: 'slack', waiting: 0, paused: true });

    const text = await cli(bed.env, ['stats']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /queue\s*│\s*waiting\s*│\s*active\s*│\s*delayed\s*│\s*prioritized\s*│\s*failed\s*│\s*completed\s*│\s*paused\s*│\s*oldest waiting\s*│\s*wait p95 \(15 min\)/,
    );
    expect(text.stdout).toMatch(/email\s*│\s*2\s*│\s*0\s*│\s*1\s*│\s*1\s*│\s*0\s*│\s*0\s*│\s*no\s*│\s*\d+s\s*│\s*-/);
    expect(text.stdout).toMatch(/files\s*│.*│\s*no\s*│\s*-\s*│\s*-/);
    expect(text.stdout).toMatch(/slack\s*│.*│\s*yes\s*│\s*-/);
  });

  it("shows each queue's wait p95 of the current minute and the 14 before it, from the workers' minute histograms", async () => {
    const producer = bed.producer();
    await producer.ready();
    const email = producer.getQueue('email');
    const now = Date.now();
    // What worker processes counted and added to Redis (the worker's own JobTimings): 95 waits of
    // 40 ms and 5 of 20 s now, one of 2 s 10 minutes ago, one of 45 minutes 20 minutes ago (out of
    // the window; counted, it would move the p95 into the 10–30 s bucket).
    const timings = new JobTimings();
    for (let n = 0; n < 95; n++) timings.observe(email, 'wait', 'welcome', 'default', 40, now);
    for (let n = 0; n < 5; n++) timings.observe(email, 'wait', 'welcome', 'default', 20_000, now);
    timings.observe(email, 'wait', 'welcome', 'default', 2_000, now - 10 * 60_000);
    timings.observe(email, 'wait', 'welcome', 'default', 45 * 60_000, now - 20 * 60_000);
    await producer.store.flushJobTimings(timings);

    const out = await cliJson<{ waitWindowMinutes: number; queues: Record<string, { waitP95Seconds: number | null }> }>(bed.env, ['stats']);
    expect(out.waitWindowMinutes).toBe(15);
    // 101 waits in the window: the 95.95th falls in the 1–2.5 s bucket (the 2 s wait), interpolated.
    expect(out.queues.email!.waitP95Seconds).toBeCloseTo(1 + 1.5 * 0.95, 6);
    expect(out.queues.slack!.waitP95Seconds).toBeNull();
    const text = await cli(bed.env, ['stats']);
    expect(text.stdout).toMatch(/email\s*│(\s*\d+\s*│){6}\s*no\s*│\s*(-|\d+s)\s*│\s*2\.4 s/);
    // Per tenant, no wait: it is counted for the whole queue.
    const scoped = await cliJson<{ queues: Record<string, Record<string, unknown>> }>(bed.env, ['stats', '--tenant', 'default']);
    expect(scoped.queues.email).not.toHaveProperty('waitP95Seconds');
    expect((await cli(bed.env, ['stats', '--tenant', 'default'])).stdout).not.toContain('wait p95');
  });
});

describe('stats: the circuit breakers', () => {
  it('all closed, then each breaker that counted a failure with its state, as JSON and as a table', async () => {
    const producer = bed.producer();
    await producer.ready();
    const closed = await cli(bed.env, ['stats']);
    expect(closed.stdout).toContain('circuit breakers: all closed');
    expect((await cliJson<{ breakers: unknown[] }>(bed.env, ['stats'])).breakers).toEqual([]);

    // The worker's steps (packages/queues/src/breakers.ts): the relay of tenant acme opened, the webhook counted one failure.
    const settings = { failures: 1, coolDownMs: 60_000 };
    const opened = await producer.store.breakerStep('fail', 'smtp:acme', settings);
    expect(opened.result).toBe('opened');
    await producer.store.breakerStep('fail', 'slack', { ...settings, failures: 3 });

    const { breakers } = await cliJson<{ breakers: Array<Record<string, unknown>> }>(bed.env, ['stats']);
    expect(breakers).toEqual([
      { dependency: 'slack', state: 'closed', failures: 1, openedAt: null, nextProbeAt: null },
      {
        dependency: 'smtp:acme',
        state: 'open',
        failures: 0,
        openedAt: new Date(opened.breaker.since).toISOString(),
        nextProbeAt: new Date(opened.breaker.openUntil).toISOString(),
      },
    ]);
    const text = await cli(bed.env, ['stats']);
    expect(text.stdout).toMatch(/dependency\s*│\s*state\s*│\s*failures\s*│\s*opened at\s*│\s*next probe/);
    expect(text.stdout).toMatch(/smtp:acme\s*│\s*open\s*│\s*0\s*│\s*\d{4}-/);
    // Another tenant's view leaves acme's relay out.
    const other = await cliJson<{ breakers: Array<{ dependency: string }> }>(bed.env, ['stats', '--tenant', 'other']);
    expect(other.breakers.map((breaker) => breaker.dependency)).toEqual(['slack']);
  });
});

describe('jobs and job', () => {
  it('list and show jobs with the personal data masked', async () => {
    const producer = bed.producer();
    await producer.enqueue('email/welcome', person('u1'));
    await producer.enqueue('email/welcome', person('u2'));

    const listed = await cliJson<{ queue: string; state: string; total: number; jobs: Array<Record<string, unknown>> }>(bed.env, [
      'jobs',
      'email',
      '--state',
      'waiting',
      '--limit',
      '1',
    ]);
    expect(listed).toMatchObject({ queue: 'email', state: 'waiting', total: 2 });
    expect(listed.jobs).toHaveLength(1);
    expect(listed.jobs[0]).toMatchObject({
      id: 'email:welcome:u2',
      name: 'welcome',
      state: 'waiting',
      attemptsMade: 0,
      data: { userId: 'u2', email: '[masked]', firstName: '[masked]' },
    });

    const shown = await cliJson<{ job: Record<string, unknown> }>(bed.env, ['job', 'email', 'email:welcome:u1']);
    expect(shown.job).toMatchObject({
      id: 'email:welcome:u1',
      state: 'waiting',
      data: { userId: 'u1', email: '[masked]', firstName: '[masked]' },
    });

    for (const args of [
      ['jobs', 'email'],
      ['jobs', 'email', '--json'],
      ['job', 'email', 'email:welcome:u1'],
      ['job', 'email', 'email:welcome:u1', '--json'],
    ]) {
      const result = await cli(bed.env, args);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('u1');
      expect(result.stdout).not.toMatch(/@example\.com|Juana/);
    }

    const missing = await cli(bed.env, ['job', 'email', 'email:welcome:nobody']);
    expect(missing).toMatchObject({ code: 1, stdout: '' });
    expect(missing.stderr).toBe('ceres-jobs: no job "email:welcome:nobody" in queue email\n');
  });

  it('mask addresses in failure reasons and stack traces too', async () => {
    await bed.producer().enqueue('email/welcome', person('u1'));
    await failJobs('email', 1);
    const result = await cli(bed.env, ['jobs', 'email', '--state', 'failed', '--json']);
    expect(result.code).toBe(0);
    const { jobs } = JSON.parse(result.stdout) as { jobs: Array<{ failedReason: string; stacktrace: string[] }> };
    expect(jobs[0]!.failedReason).toBe('refused by [email]');
    expect(result.stdout).not.toContain('@example.com');
  });
});

describe('retry', () => {
  it('puts one failed job back with its attempts reset, refuses a job that is not failed, and retries all', async () => {
    const producer = bed.producer();
    for (const id of ['u1', 'u2', 'u3']) await producer.enqueue('email/welcome', person(id));
    await failJobs('email', 3);
    const email = producer.getQueue('email');

    expect(await cliJson(bed.env, ['retry', 'email', 'email:welcome:u1'])).toEqual({
      queue: 'email',
      id: 'email:welcome:u1',
      retried: true,
    });
    const job = await email.getJob('email:welcome:u1');
    expect(await job!.getState()).toBe('waiting');
    expect(job!.attemptsMade).toBe(0);

    const again = await cli(bed.env, ['retry', 'email', 'email:welcome:u1']);
    expect(again).toMatchObject({
      code: 1,
      stderr: 'ceres-jobs: job "email:welcome:u1" of email is waiting, not failed: nothing retried\n',
    });
    expect((await cli(bed.env, ['retry', 'email', 'email:welcome:nobody'])).code).toBe(1);
    expect(await cli(bed.env, ['retry', 'email'])).toMatchObject({
      code: 2,
      stderr: 'ceres-jobs: retry: give either a job <id> or --all\n',
    });

    expect(await cliJson(bed.env, ['retry', 'email', '--all'])).toEqual({ queue: 'email', retried: 2 });
    expect(await email.getFailedCount()).toBe(0);
    expect(await email.getWaitingCount()).toBe(3);
  });
});

describe('pause, resume, clean, drain', () => {
  it('pause and resume a queue', async () => {
    const email = bed.producer().getQueue('email');
    expect(await cliJson(bed.env, ['pause', 'email'])).toEqual({ queue: 'email', paused: true });
    expect(await email.isPaused()).toBe(true);
    expect(await cliJson(bed.env, ['resume', 'email'])).toEqual({ queue: 'email', paused: false });
    expect(await email.isPaused()).toBe(false);
  });

  it('clean removes the finished jobs of one state older than the grace period', async () => {
    const producer = bed.producer();
    await producer.enqueue('email/welcome', person('u1'));
    await producer.enqueue('email/welcome', person('u2'));
    await failJobs('email', 2);
    expect(await cliJson(bed.env, ['clean', 'email', 'failed', '--grace', '3600000'])).toEqual({
      queue: 'email',
      state: 'failed',
      gracePeriod: 3600000,
      removed: 0,
    });
    expect(await cliJson(bed.env, ['clean', 'email', 'completed'])).toMatchObject({ removed: 0 });
    expect(await cliJson(bed.env, ['clean', 'email', 'failed'])).toEqual({ queue: 'email', state: 'failed', gracePeriod: 0, removed: 2 });
    expect(await producer.getQueue('email').getFailedCount()).toBe(0);
    expect((await cli(bed.env, ['clean', 'email', 'waiting'])).code).toBe(2);
  });

  it('drain removes the waiting jobs only after confirmation, and keeps the delayed ones', async () => {
    const producer = bed.producer();
    await producer.enqueue('email/welcome', person('u1'));
    await producer.enqueue('email/welcome', person('u2'), { priority: 3 });
    await producer.enqueue('email/welcome', person('u3'), { delay: 60_000 });
    const email = producer.getQueue('email');

    const noTerminal = await cli(bed.env, ['drain', 'email']);
    expect(noTerminal).toMatchObject({
      code: 2,
      stderr: 'ceres-jobs: drain: asks for confirmation on a terminal; pass --yes to drain without asking\n',
    });
    const declined = await cli(bed.env, ['drain', 'email'], { stdinTty: true, input: 'n\n' });
    expect(declined.code).toBe(1);
    expect(declined.stdout).toContain('Remove the 2 waiting job(s) of email? [y/N]');
    expect(declined.stdout).toContain('nothing removed');
    expect(await email.getJobCountByTypes('waiting', 'prioritized')).toBe(2);

    const confirmed = await cli(bed.env, ['drain', 'email'], { stdinTty: true, input: 'y\n' });
    expect(confirmed.code).toBe(0);
    expect(confirmed.stdout).toContain('removed 2 waiting job(s) of email');
    expect(await email.getJobCountByTypes('waiting', 'prioritized')).toBe(0);
    expect(await email.getDelayedCount()).toBe(1);

    await producer.enqueue('email/welcome', person('u4'));
    expect(await cliJson(bed.env, ['drain', 'email', '--yes'])).toEqual({ queue: 'email', removed: 1 });
  });
});

describe('schedulers', () => {
  it('lists the job schedulers and runs one now', async () => {
    const maintenance = bed.producer().getQueue('maintenance');
    await maintenance.upsertJobScheduler(
      'clean-verification-tokens',
      { pattern: '0 * * * *', tz: 'Europe/Madrid' },
      { name: 'clean-verification-tokens', data: {} },
    );

    const { schedulers } = await cliJson<{ schedulers: Array<Record<string, unknown>> }>(bed.env, ['schedulers']);
    expect(schedulers).toEqual([
      {
        id: 'clean-verification-tokens',
        queue: 'maintenance',
        name: 'clean-verification-tokens',
        pattern: '0 * * * *',
        every: null,
        tz: 'Europe/Madrid',
        next: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/),
      },
    ]);
    const ran = await cliJson<{ scheduler: string; queue: string; jobId: string }>(bed.env, [
      'schedulers',
      'run',
      'clean-verification-tokens',
    ]);
    expect(ran).toMatchObject({ scheduler: 'clean-verification-tokens', queue: 'maintenance' });
    expect(await (await maintenance.getJob(ran.jobId))!.getState()).toBe('waiting');

    const unknown = await cli(bed.env, ['schedulers', 'run', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^ceres-jobs: id: unknown job scheduler "nope"; known: maintenance\/clean-verification-tokens\n$/);
  });
});

describe('usage errors name the argument or the variable, exit 2', () => {
  it.each([
    [['jobs', 'mail'], /argument 'queue'.*Allowed choices are email, files, maintenance, newsletter, slack/],
    [['jobs', 'email', '--state', 'done'], /option '--state <state>' argument 'done' is invalid/],
    [['jobs', 'email', '--limit', '0'], /option '--limit <n>' argument '0' is invalid\. expected a whole number from 1 to 1000/],
    [['failed', 'list', '--since', 'yesterday'], /option '--since <time>' argument 'yesterday' is invalid/],
    [['failed', 'retry', 'abc'], /argument 'archive-id'|archive-id/],
    [['work', '--once', '--max-jobs', '2'], /--once and --max-jobs exclude each other/],
    [['frobnicate'], /unknown command 'frobnicate'/],
  ])('ceres-jobs %j', async (args, message) => {
    const result = await cli(bed.env, args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });

  it('a bad REDIS_URL or a missing DATABASE_URL', async () => {
    const badRedis = await cli({ ...bed.env, REDIS_URL: 'http://x' }, ['stats']);
    expect(badRedis.code).toBe(2);
    expect(badRedis.stderr).toMatch(/^ceres-jobs: invalid configuration: REDIS_URL/);
    const { DATABASE_URL: _, ...noDb } = bed.env;
    const noDatabase = await cli(noDb, ['failed', 'list']);
    expect(noDatabase).toMatchObject({
      code: 2,
      stderr: 'ceres-jobs: invalid configuration: DATABASE_URL is not set (expected postgres://user:pass@host:5432/dbname)\n',
    });
  });

  it('--help works on every command and exits 0', async () => {
    for (const command of [
      [],
      ['stats'],
      ['jobs'],
      ['job'],
      ['retry'],
      ['failed'],
      ['failed', 'list'],
      ['failed', 'retry'],
      ['failed', 'forget'],
      ['failed', 'flush'],
      ['pause'],
      ['resume'],
      ['clean'],
      ['drain'],
      ['schedulers'],
      ['schedulers', 'run'],
      ['erase'],
      ['work'],
      ['monitor'],
    ]) {
      const result = await cli(bed.env, [...command, '--help']);
      expect(result.code, command.join(' ')).toBe(0);
      expect(result.stdout, command.join(' ')).toMatch(/^Usage: ceres-jobs/);
    }
  });
});

describe('settings', () => {
  it('come from .env and var/stack.env in the current directory, the shell winning (the built bin)', async () => {
    const dir = await makeTempDir('cli-env');
    try {
      await bed.producer().enqueue('email/welcome', person('u1'));
      // .env names a Redis that is not there; var/stack.env (as `npm start` writes it) the real one.
      writeFileSync(
        join(dir.path, '.env'),
        `REDIS_URL=redis://127.0.0.1:1\nREDIS_PREFIX=${bed.env.REDIS_PREFIX}\nDATABASE_URL=postgres://x@127.0.0.1:1/x\n`,
      );
      mkdirSync(join(dir.path, 'var'));
      writeFileSync(join(dir.path, 'var', 'stack.env'), `REDIS_URL=${bed.peers.redis.url}\n`);
      const shell = { PATH: process.env.PATH ?? '' };
      const fromFiles = await spawnCli(shell, ['stats', '--json'], dir.path);
      expect(fromFiles.code, fromFiles.stderr).toBe(0);
      expect((JSON.parse(fromFiles.stdout) as { queues: { email: { waiting: number } } }).queues.email.waiting).toBe(1);

      const shellWins = await spawnCli({ ...shell, REDIS_URL: 'redis://127.0.0.1:2' }, ['stats'], dir.path);
      expect(shellWins).toMatchObject({ code: 3, stderr: 'ceres-jobs: Redis is unreachable at 127.0.0.1:2/5\n' });
      const emptyIsUnset = await spawnCli({ ...shell, REDIS_URL: '' }, ['stats', '--json'], dir.path);
      expect(emptyIsUnset.code, emptyIsUnset.stderr).toBe(0);
      expect(await spawnCli(shell, ['failed', 'list'], dir.path)).toMatchObject({
        code: 3,
        stderr: 'ceres-jobs: PostgreSQL is unreachable at 127.0.0.1:1/x (ECONNREFUSED)\n',
      });
    } finally {
      await dir.remove();
    }
  });
});

describe('servers unreachable: exit 3 with a line naming which (the built bin)', () => {
  it('Redis stopped', async () => {
    const redis = await startRedisServer();
    const env = { ...bed.env, REDIS_URL: redis.url };
    expect((await spawnCli(env, ['stats', '--json'], bed.cwd)).code).toBe(0);
    await redis.stop();
    try {
      for (const args of [
        ['stats'],
        ['stats', '--json'],
        ['jobs', 'email'],
        ['retry', 'email', '--all'],
        ['monitor', '--once'],
        ['work', '--once'],
      ]) {
        const result = await spawnCli(env, args, bed.cwd);
        expect(result, args.join(' ')).toMatchObject({
          code: 3,
          stdout: '',
          stderr: `ceres-jobs: Redis is unreachable at 127.0.0.1:${redis.port}/5\n`,
        });
      }
    } finally {
      await redis.close();
    }
  }, 60_000);

  it('PostgreSQL not there', async () => {
    const env = { ...bed.env, DATABASE_URL: 'postgres://ceres:secret-pass@127.0.0.1:1/ceres' };
    const reads = await spawnCli(env, ['failed', 'list'], bed.cwd);
    expect(reads).toMatchObject({
      code: 3,
      stdout: '',
      stderr: 'ceres-jobs: PostgreSQL is unreachable at 127.0.0.1:1/ceres (ECONNREFUSED)\n',
    });
    expect(reads.stderr).not.toContain('secret-pass');
    // Mutating commands are refused: no audit, no action (exit 1; audit.test.ts checks nothing was done).
    for (const args of [
      ['failed', 'retry', '--all'],
      ['failed', 'flush'],
    ]) {
      const result = await spawnCli(env, args, bed.cwd);
      expect(result, args.join(' ')).toMatchObject({
        code: 1,
        stdout: '',
        stderr:
          'ceres-jobs: not done: the audit trail cannot be written (PostgreSQL is unreachable at 127.0.0.1:1/ceres (ECONNREFUSED)); try again once it is back\n',
      });
      expect(result.stderr).not.toContain('secret-pass');
    }
  });
});
