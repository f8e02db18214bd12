import { PAUSE_ONLY_LIMITER } from '@ceres/queues';
import { waitFor } from '@ceres/testing';
import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { isThrottlingMailError } from '../src/deps/mailer';
import { retryAfter, SLACK_DEFAULT_RETRY_AFTER_MS, SLACK_MAX_RETRY_AFTER_MS } from '../src/deps/slack';
import { spawnWorker, waitForIdle, waitForState, workerEnv, useTestBed } from './helpers/harness';

const bed = useTestBed();

/** The most timestamps within any sliding window of `windowMs` (a window starting at each one). */
function largestWindow(times: number[], windowMs = 1_000): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let start = 0, end = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]! < sorted[start]! + windowMs) end++;
    best = Math.max(best, end - start);
  }
  return best;
}

/**
 * The rate over the run: BullMQ's limiter lets `rate` jobs start per fixed window of 1 s, so
 * `count` jobs span at least `count / rate - 1` s; over span + 1 s the average is at most `rate`.
 */
function averageRate(times: number[]): number {
  const span = Math.max(...times) - Math.min(...times);
  return times.length / ((span + 1_000) / 1_000);
}

async function startWorkers(env: Record<string, string>, count: number): Promise<void> {
  for (let n = 0; n < count; n++) bed.children.push(spawnWorker(env));
  await Promise.all(bed.children.map((child) => child.ready));
}

describe('EMAIL_RATE_PER_SECOND', () => {
  it('holds across three worker processes: average at most the rate, no sliding second above twice it', async () => {
    const rate = 20;
    const env = workerEnv(bed.peers, { EMAIL_RATE_PER_SECOND: String(rate) });
    await startWorkers(env, 3);
    const queues = bed.producer(env);
    const total = 120;
    await queues.enqueueBulk(
      'email/welcome',
      Array.from({ length: total }, (_, n) => ({ userId: `rate-${n}`, email: `rate-${n}@example.com`, firstName: 'R' })),
    );
    const mails = await bed.peers.smtp.waitForMessages(total, 30_000);
    const times = mails.map((mail) => mail.receivedAt);
    expect(new Set(mails.map((mail) => mail.envelope.to[0])).size).toBe(total);
    // The limiter paces the jobs' starts (BullMQ's processedOn): the average is checked there. At
    // the relay the first mails also wait for the pools' first connections, which shortens the
    // span by a few hundred ms under load (21.2/s once in a full run); each second there stays bounded.
    const email = queues.getQueue('email');
    await waitFor(async () => (await email.getCompletedCount()) === total, { what: 'every job completed' });
    const starts = (await email.getCompleted(0, -1)).map((job) => job.processedOn!);
    expect(starts).toHaveLength(total);
    expect(averageRate(starts)).toBeLessThanOrEqual(rate * 1.05);
    expect(largestWindow(starts)).toBeLessThanOrEqual(2 * rate);
    expect(largestWindow(times)).toBeLessThanOrEqual(2 * rate);
  }, 60_000);
});

describe('an SMTP server that throttles', () => {
  it('answering 421 for 5 s while mails are queued: all delivered once, no dead letter, no attempt used by the throttling', async () => {
    const env = workerEnv(bed.peers, { SMTP_THROTTLE_PAUSE_MS: '1000' });
    await startWorkers(env, 2);
    const queues = bed.producer(env);
    bed.peers.smtp.throttle({ code: 421, message: '4.7.0 Too many messages, slow down', forMs: 5_000 });
    const throttledFrom = Date.now();
    const total = 40;
    const results = await queues.enqueueBulk(
      'email/welcome',
      Array.from({ length: total }, (_, n) => ({ userId: `throttled-${n}`, email: `throttled-${n}@example.com`, firstName: 'T' })),
    );
    const mails = await bed.peers.smtp.waitForMessages(total, 30_000);
    expect(bed.peers.smtp.throttled.length).toBeGreaterThan(0);
    expect(Math.min(...mails.map((mail) => mail.receivedAt))).toBeGreaterThanOrEqual(throttledFrom + 5_000);
    expect(new Set(mails.map((mail) => mail.envelope.to[0])).size).toBe(total);
    expect(mails).toHaveLength(total);
    const email = queues.getQueue('email');
    const jobs = (await Promise.all(results.map(({ jobId }) => email.getJob(jobId)))) as Job[];
    await waitFor(async () => (await Promise.all(jobs.map((job) => email.getJobState(job.id!)))).every((state) => state === 'completed'), {
      what: 'every job completed',
    });
    const finished = (await Promise.all(results.map(({ jobId }) => email.getJob(jobId)))) as Job[];
    // attemptsMade counts the one attempt that delivered; the throttled runs went back to wait.
    expect(finished.map((job) => job.attemptsMade)).toEqual(finished.map(() => 1));
    expect(await email.getFailedCount()).toBe(0);
    expect(await bed.db.failedJobs.countSince(new Date(throttledFrom - 60_000))).toEqual({});
  }, 60_000);

  it('a plain 451 (no 4.7.x) stays an ordinary transient failure and uses an attempt', async () => {
    const env = workerEnv(bed.peers);
    await startWorkers(env, 1);
    const queues = bed.producer(env);
    bed.peers.smtp.throttle({ code: 451, message: 'Local error in processing', forMs: 60_000 });
    const { jobId } = await queues.enqueue('email/welcome', { userId: 'plain-451', email: 'plain-451@example.com', firstName: 'P' });
    const email = queues.getQueue('email');
    const job = await waitFor(
      async () => {
        const current = await email.getJob(jobId);
        return current && current.attemptsMade >= 1 ? current : undefined;
      },
      { timeoutMs: 15_000, what: 'the first failed attempt' },
    );
    expect(job.failedReason).toMatch(/transient SMTP 451/);
  }, 30_000);
});

describe('a deferral of one recipient', () => {
  it("450 4.7.1 at RCPT TO is that mail's transient failure (an attempt used), not a pause of the whole queue", async () => {
    // A long pause: had the queue paused, the other mails could not arrive within the wait below.
    const env = workerEnv(bed.peers, { SMTP_THROTTLE_PAUSE_MS: '20000' });
    await startWorkers(env, 1);
    const queues = bed.producer(env);
    bed.peers.smtp.setRules([
      { match: 'deferred@example.com', code: 450, message: '4.7.1 <deferred@example.com>: Recipient address rejected: try again later' },
    ]);
    const { jobId } = await queues.enqueue('email/welcome', { userId: 'deferred', email: 'deferred@example.com', firstName: 'D' });
    await waitFor(() => bed.peers.smtp.refused.length >= 1, { timeoutMs: 10_000, what: 'the deferral at RCPT TO' });
    const total = 20;
    await queues.enqueueBulk(
      'email/welcome',
      Array.from({ length: total }, (_, n) => ({ userId: `other-${n}`, email: `other-${n}@example.com`, firstName: 'O' })),
    );
    const mails = await bed.peers.smtp.waitForMessages(total, 8_000);
    expect(new Set(mails.map((mail) => mail.envelope.to[0])).size).toBe(total);
    const email = queues.getQueue('email');
    const job = await waitFor(
      async () => {
        const current = await email.getJob(jobId);
        return current && current.attemptsMade >= 1 ? current : undefined;
      },
      { timeoutMs: 5_000, what: 'the deferred mail to use an attempt' },
    );
    expect(job.failedReason).toMatch(/^transient SMTP 450/);
    expect(job.failedReason).not.toContain('deferred@example.com');
    // No pause: the limiter key holds no pause (a pause sets it past the limit's max).
    expect(await email.getRateLimitTtl(PAUSE_ONLY_LIMITER.max)).toBeLessThanOrEqual(0);
    expect(bed.children[0]!.logs.filter((line) => String(line.msg).startsWith('peer throttled'))).toEqual([]);
  }, 40_000);
});

describe('a Slack webhook that answers 429', () => {
  it('with Retry-After: 2 for 10 s: every alert delivered, attempts not used, never above the configured rate', async () => {
    const rate = 4;
    const env = workerEnv(bed.peers, { SLACK_RATE_PER_SECOND: String(rate) });
    await startWorkers(env, 2);
    const queues = bed.producer(env);
    bed.peers.slack.setStatus(429, { headers: { 'retry-after': '2' }, forMs: 10_000 });
    const from = Date.now();
    const total = 16;
    const results = await queues.enqueueBulk(
      'slack/alert',
      Array.from({ length: total }, (_, n) => ({ text: `storm ${n}`, dedupeKey: `storm-${n}` })),
    );
    await waitFor(
      () => new Set(bed.peers.slack.requests.filter((r) => r.status === 200).map((r) => (r.body as { text: string }).text)).size === total,
      {
        timeoutMs: 40_000,
        what: 'every alert delivered',
      },
    );
    const requests = bed.peers.slack.requests;
    const refused = requests.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(Math.min(...requests.filter((r) => r.status === 200).map((r) => r.at))).toBeGreaterThanOrEqual(from + 10_000);
    // Each delivered once, and the posts, refused or not, kept to the rate.
    expect(requests.filter((r) => r.status === 200)).toHaveLength(total);
    expect(largestWindow(requests.map((r) => r.at))).toBeLessThanOrEqual(2 * rate);
    expect(averageRate(requests.map((r) => r.at))).toBeLessThanOrEqual(rate * 1.05);
    // During the 10 s, the pauses held: a round of at most `rate` posts per Retry-After (2 s), not
    // a post per alert per attempt.
    expect(refused.length).toBeLessThanOrEqual(rate * 7);
    const slack = queues.getQueue('slack');
    // The webhook's 200 comes before the worker marks the job completed: wait for that first.
    await waitFor(
      async () => (await Promise.all(results.map(({ jobId }) => slack.getJobState(jobId)))).every((state) => state === 'completed'),
      {
        timeoutMs: 5_000,
        what: 'every alert job completed',
      },
    );
    const jobs = (await Promise.all(results.map(({ jobId }) => slack.getJob(jobId)))) as Job[];
    expect(jobs.map((job) => job.attemptsMade)).toEqual(jobs.map(() => 1));
    expect(await slack.getFailedCount()).toBe(0);
  }, 60_000);
});

describe('a Slack webhook slower than SLACK_TIMEOUT_MS', () => {
  it('is posted to once: the request went out, so the alert completes as unconfirmed instead of showing again', async () => {
    const env = workerEnv(bed.peers, { SLACK_TIMEOUT_MS: '300' });
    await startWorkers(env, 1);
    bed.peers.slack.setDelay(1_500);
    const queues = bed.producer(env);
    const { jobId } = await queues.enqueue('slack/alert', { text: 'slow webhook', dedupeKey: 'slow-webhook' });
    const job = await waitForState(queues.getQueue('slack'), jobId, 'completed', 15_000);
    expect(job.returnvalue).toEqual({ delivered: 'unconfirmed' });
    // The job is over and the queue has nothing left to run: no further post can come.
    await waitForIdle(queues.getQueue('slack'));
    expect(bed.peers.slack.requests).toHaveLength(1);
    expect(bed.children[0]!.logs.some((line) => String(line.msg).startsWith('slack webhook did not answer in time'))).toBe(true);
  }, 30_000);

  it('a webhook that cannot be reached is retried on the schedule (nothing was sent)', async () => {
    const env = workerEnv(bed.peers, { SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/hook' });
    await startWorkers(env, 1);
    const queues = bed.producer(env);
    const { jobId } = await queues.enqueue('slack/alert', { text: 'unreachable', dedupeKey: 'unreachable' });
    const slack = queues.getQueue('slack');
    const job = await waitFor(
      async () => {
        const current = await slack.getJob(jobId);
        return current && current.attemptsMade >= 1 ? current : undefined;
      },
      { timeoutMs: 15_000, what: 'a failed attempt' },
    );
    expect(await job.getState()).toBe('delayed');
  }, 30_000);
});

describe('what counts as throttling', () => {
  it('SMTP: 421 always, 450/451 only with an enhanced code 4.7.x', () => {
    expect(isThrottlingMailError({ responseCode: 421, response: '421 Service not available' })).toBe(true);
    expect(isThrottlingMailError({ responseCode: 451, response: '451 4.7.1 Rate limit exceeded, try later' })).toBe(true);
    expect(isThrottlingMailError({ responseCode: 450, response: '450-4.7.0 Too many messages' })).toBe(true);
    expect(isThrottlingMailError({ responseCode: 451, response: '451 Local error in processing' })).toBe(false);
    expect(isThrottlingMailError({ responseCode: 451, response: '451 4.3.0 Mail server temporarily rejected message' })).toBe(false);
    expect(isThrottlingMailError({ responseCode: 452, response: '452 4.7.0 x' })).toBe(false);
    expect(isThrottlingMailError({ responseCode: 550, response: '550 5.7.1 Rejected' })).toBe(false);
    expect(isThrottlingMailError(new Error('ECONNRESET'))).toBe(false);
  });

  it('SMTP: a 4.7.x answer to RCPT TO is about that recipient, not the relay; 421 is the relay whatever the command', () => {
    expect(
      isThrottlingMailError({ responseCode: 450, response: '450 4.7.1 <a@example.com>: Recipient address rejected', command: 'RCPT TO' }),
    ).toBe(false);
    expect(isThrottlingMailError({ responseCode: 451, response: '451 4.7.1 Please try again later', command: 'RCPT TO' })).toBe(false);
    expect(isThrottlingMailError({ responseCode: 451, response: '451 4.7.1 Rate limit exceeded', command: 'MAIL FROM' })).toBe(true);
    expect(isThrottlingMailError({ responseCode: 421, response: '421 4.7.0 Too many connections', command: 'RCPT TO' })).toBe(true);
  });

  it("Slack's Retry-After: seconds or an HTTP date, a default when absent or unreadable, capped", () => {
    const now = Date.parse('2026-12-01T12:00:00Z');
    expect(retryAfter('2', now)).toBe(2_000);
    expect(retryAfter(null, now)).toBe(SLACK_DEFAULT_RETRY_AFTER_MS);
    expect(retryAfter('soon', now)).toBe(SLACK_DEFAULT_RETRY_AFTER_MS);
    expect(retryAfter('Tue, 01 Dec 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(retryAfter('86400', now)).toBe(SLACK_MAX_RETRY_AFTER_MS);
  });
});
