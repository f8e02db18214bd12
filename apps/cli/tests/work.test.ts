// `work` through the built bin (npm run build first): a real process, its exit code, real mails.
import { spawn } from 'node:child_process';
import { waitFor } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { ROOT, spawnCli, useBed } from './helpers';

const bed = useBed();

const welcome = (n: number) => ({ userId: `w${n}`, email: `w${n}@example.com`, firstName: 'W' });

async function enqueueWelcomes(count: number) {
  const producer = bed.producer();
  await producer.enqueueBulk(
    'email/welcome',
    Array.from({ length: count }, (_, n) => welcome(n)),
  );
  return producer.getQueue('email');
}

describe('work', () => {
  it('--stop-when-empty with 20 jobs waiting processes them all and exits 0', async () => {
    const email = await enqueueWelcomes(20);
    const result = await spawnCli(bed.env, ['work', '--stop-when-empty'], bed.cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('ceres-jobs work: 20 job(s) processed');
    expect(await email.getCompletedCount()).toBe(20);
    expect(await email.getJobCountByTypes('waiting', 'active', 'delayed', 'failed')).toBe(0);
    expect(bed.peers.smtp.messages).toHaveLength(20);
    expect(new Set(bed.peers.smtp.messages.map((mail) => mail.envelope.to[0]))).toEqual(
      new Set(Array.from({ length: 20 }, (_, n) => `w${n}@example.com`)),
    );
  }, 60_000);

  it('--once processes exactly one job of several waiting (the queue runs 5 at once) and leaves the rest untouched', async () => {
    const email = await enqueueWelcomes(6);
    const result = await spawnCli(bed.env, ['work', '--once'], bed.cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('ceres-jobs work: 1 job(s) processed');
    expect(await email.getCompletedCount()).toBe(1);
    expect(await email.getWaitingCount()).toBe(5);
    expect(await email.getJobCountByTypes('active', 'delayed', 'failed')).toBe(0);
    expect(bed.peers.smtp.messages).toHaveLength(1);
    for (const job of await email.getWaiting()) expect(job.attemptsMade).toBe(0);
  }, 60_000);

  it('--once over several queues still processes exactly one job; the others go back untouched', async () => {
    const producer = bed.producer();
    const email = await enqueueWelcomes(3);
    for (const n of [1, 2, 3]) await producer.enqueue('slack/alert', { text: `alert ${n}`, severity: 'info', dedupeKey: `a${n}` });
    const slack = producer.getQueue('slack');
    const result = await spawnCli(bed.env, ['work', '--once', '--queue', 'email', '--queue', 'slack'], bed.cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('ceres-jobs work: 1 job(s) processed from email, slack');
    expect((await email.getCompletedCount()) + (await slack.getCompletedCount())).toBe(1);
    // Seen 4 under load: the message says where the sixth job was.
    const counts = JSON.stringify({ email: await email.getJobCounts(), slack: await slack.getJobCounts() });
    expect((await email.getWaitingCount()) + (await slack.getWaitingCount()), counts).toBe(5);
    expect(bed.peers.smtp.messages.length + bed.peers.slack.requests.length).toBe(1);
    for (const job of [...(await email.getWaiting()), ...(await slack.getWaiting())]) expect(job.attemptsMade).toBe(0);
    expect(await email.getJobCountByTypes('active', 'failed', 'delayed')).toBe(0);
    expect(await slack.getJobCountByTypes('active', 'failed', 'delayed')).toBe(0);
  }, 60_000);

  it('--once with nothing to take exits 0 at once; --max-jobs 3 processes three', async () => {
    const empty = await spawnCli(bed.env, ['work', '--once'], bed.cwd);
    expect(empty.code, empty.stderr).toBe(0);
    expect(empty.stderr).toContain('ceres-jobs work: 0 job(s) processed');

    const email = await enqueueWelcomes(8);
    const result = await spawnCli(bed.env, ['work', '--max-jobs', '3'], bed.cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(await email.getCompletedCount()).toBe(3);
    expect(await email.getWaitingCount()).toBe(5);
    expect(bed.peers.smtp.messages).toHaveLength(3);
  }, 60_000);

  it('--queue consumes only the named queues; paused queues and delayed jobs not due count as empty', async () => {
    const producer = bed.producer();
    const email = await enqueueWelcomes(2);
    await producer.enqueue('slack/alert', { text: 'one', severity: 'info', dedupeKey: 'one' });
    await producer.enqueue('slack/alert', { text: 'later', severity: 'info', dedupeKey: 'later' }, { delay: 60_000 });
    const slack = producer.getQueue('slack');

    const result = await spawnCli(bed.env, ['work', '--queue', 'slack', '--stop-when-empty'], bed.cwd);
    expect(result.code, result.stderr).toBe(0);
    expect(await slack.getCompletedCount()).toBe(1);
    expect(await slack.getDelayedCount()).toBe(1);
    expect(bed.peers.slack.requests.map((request) => (request.body as { text: string }).text)).toEqual([':information_source: one']);
    expect(await email.getWaitingCount()).toBe(2);

    await email.pause();
    const paused = await spawnCli(bed.env, ['work', '--queue', 'email', '--stop-when-empty'], bed.cwd);
    expect(paused.code, paused.stderr).toBe(0);
    expect(await email.getWaitingCount()).toBe(2);
  }, 60_000);

  it('SIGTERM lets the active job finish and exits 0; a second signal aborts it and exits 1', async () => {
    const env = { ...bed.env, SLACK_TIMEOUT_MS: '30000' };
    const producer = bed.producer();
    const slack = producer.getQueue('slack');
    const start = () => {
      const child = spawn(process.execPath, [`${ROOT}apps/cli/bin/ceres-jobs.js`, 'work', '--queue', 'slack'], {
        cwd: bed.cwd,
        env,
        stdio: 'ignore',
      });
      return { child, exited: new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(`${code} ${signal}`))) };
    };

    bed.peers.slack.setDelay(1_500);
    const { jobId: slow } = await producer.enqueue('slack/alert', { text: 'slow', severity: 'info', dedupeKey: 'slow' });
    const graceful = start();
    await waitFor(async () => (await slack.getJobState(slow)) === 'active', { timeoutMs: 20_000, what: 'the job to be active' });
    graceful.child.kill('SIGTERM');
    expect(await graceful.exited).toBe('0 null');
    expect(await slack.getJobState(slow)).toBe('completed');

    bed.peers.slack.setDelay(20_000);
    const { jobId: stuck } = await producer.enqueue('slack/alert', { text: 'stuck', severity: 'info', dedupeKey: 'stuck' });
    const forced = start();
    await waitFor(async () => (await slack.getJobState(stuck)) === 'active', { timeoutMs: 20_000, what: 'the job to be active' });
    const signalled = Date.now();
    forced.child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 300));
    forced.child.kill('SIGTERM');
    expect(await forced.exited).toBe('1 null');
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(await slack.getJobState(stuck)).not.toBe('completed');
  }, 60_000);
});
