import { createHash, randomUUID } from 'node:crypto';
import { createRedisConnection, eraseUserData } from '@ceres/queues';
import { Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { waitFor } from '@ceres/testing';
import { createWorkerApp } from '../apps/worker/src/app';
import { createLogger } from '../apps/worker/src/deps/logger';
import { processors } from '../apps/worker/src/processors';
import { configFor, useTestBed, waitForState, workerEnv } from '../apps/worker/tests/helpers/harness';

// Issue 24: what an erasure left behind, against real Redis and PostgreSQL.
const bed = useTestBed();
const log = { info: () => {} };

describe('erasure (issue 24)', () => {
  it('item 16: erases the sent_mails records whose job id names the user, and only theirs', async () => {
    const producer = bed.producer(workerEnv(bed.peers));
    // Connected first: a producer's connection queues no command (enableOfflineQueue off).
    await producer.ready();
    const at = new Date(Date.UTC(2026, 11, 1));
    const target = 'sent-16';
    for (const jobId of [
      `email:verify:${target}`,
      `email:welcome:${target}`,
      `newsletter:send:0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b.${target}`,
      `email:welcome:${target}x`,
      `email:welcome:x${target}`,
    ]) {
      await bed.db.sentMails.record({ queue: jobId.split(':')[0]!, jobId, jobCreatedAt: at, messageId: '<m@ceres>' });
    }
    const counts = await eraseUserData({ client: producer, db: bed.db, log }, target);
    expect(counts.sentMails).toBe(3);
    const { rows } = await bed.db.pool.query<{ job_id: string }>('SELECT job_id FROM sent_mails ORDER BY job_id');
    expect(rows.map((row) => row.job_id)).toEqual([`email:welcome:${target}x`, `email:welcome:x${target}`]);
    // A user id with regular-expression characters matches itself only.
    await bed.db.sentMails.record({ queue: 'email', jobId: 'email:welcome:a.b(c)*é', jobCreatedAt: at, messageId: '<m@ceres>' });
    await bed.db.sentMails.record({ queue: 'email', jobId: 'email:welcome:aXb(c)*é', jobCreatedAt: at, messageId: '<m@ceres>' });
    expect((await eraseUserData({ client: producer, db: bed.db, log }, 'a.b(c)*é')).sentMails).toBe(1);
    expect(await bed.db.sentMails.find({ queue: 'email', jobId: 'email:welcome:aXb(c)*é', jobCreatedAt: at })).toBe('<m@ceres>');
  });

  it('item 4: finds every job of the user while a worker consumes the queue', async () => {
    const producer = bed.producer(workerEnv(bed.peers));
    const queue = producer.getQueue('newsletter');
    const target = 'busy-4';
    // 600 send jobs of the user (one per campaign) among 6,000 of others, as fan-outs add them
    // (prioritized): every page boundary the consumer shifts by a few jobs skips some of theirs.
    const payloads: Array<{ campaignId: string; userId: string }> = [];
    for (let i = 0; i < 6_000; i++) {
      payloads.push({ campaignId: randomUUID(), userId: `other-${i}` });
      if (i % 10 === 5) payloads.push({ campaignId: randomUUID(), userId: target });
    }
    for (let i = 0; i < payloads.length; i += 500)
      await producer.enqueueBulk('newsletter/send', payloads.slice(i, i + 500), { priority: 1 });
    // A consumer that keeps jobs moving between states during the whole erasure.
    const worker = new Worker('newsletter', async () => new Promise((resolve) => setTimeout(resolve, 2)), {
      connection: createRedisConnection(producer.config, 'worker'),
      prefix: queue.opts.prefix,
      concurrency: 5,
    });
    let moved = 0;
    worker.on('completed', () => void moved++);
    try {
      // The consumer is at work before the erasure starts.
      await waitFor(() => moved >= 100, { what: 'the consumer to complete 100 jobs' });
      const counts = await eraseUserData({ client: producer, db: bed.db, log }, target);
      expect(await queue.getJobCountByTypes('prioritized')).toBeGreaterThan(0);
      await worker.close();
      const left = (await queue.getJobs(['waiting', 'delayed', 'prioritized', 'completed', 'failed', 'active'], 0, -1)).filter(
        (job) => job?.data?.userId === target,
      );
      expect(counts.jobsByQueue.newsletter + counts.jobsStillRunning).toBe(600);
      expect(left.length).toBeLessThanOrEqual(counts.jobsStillRunning);
    } finally {
      await worker.close();
    }
  }, 120_000);

  it('item 15: keeps an erased opt-out as a keyed digest (no dictionary reverses it) that still blocks the address coming back', async () => {
    const env = workerEnv(bed.peers);
    const producer = bed.producer(env);
    const store = bed.db.newsletter;
    const first = await store.createCampaign({ subject: 'S', text: 'T', html: null });
    await store.addRecipients(first, [{ userId: 'dig-15', email: 'Dict.Word@example.com', firstName: 'D' }]);
    expect(await store.unsubscribe(first, 'dig-15')).toBe('recorded');
    expect((await eraseUserData({ client: producer, db: bed.db, log }, 'dig-15')).newsletterOptOuts).toBe(1);
    const { rows } = await bed.db.pool.query<{ email: string }>('SELECT email FROM newsletter_unsubscribes WHERE user_id = $1', ['dig-15']);
    expect(rows).toHaveLength(1);
    const unsalted = `erased:${createHash('sha256').update('dict.word@example.com').digest('hex')}`;
    expect(rows[0]!.email).not.toBe(unsalted);
    expect(rows[0]!.email).not.toMatch(/dict|word|example/i);

    // The same address back under another user: the worker skips it, no mail.
    const next = await store.createCampaign({ subject: 'S', text: 'T', html: null });
    await store.addRecipients(next, [{ userId: 'dig-15-again', email: 'DICT.word@example.com', firstName: 'D' }]);
    await store.start(next);
    const app = createWorkerApp({
      config: configFor(env),
      logger: createLogger('silent'),
      processors: { newsletter: processors.newsletter },
      schedulers: false,
    });
    bed.apps.push(app);
    await app.started;
    const { jobId } = await producer.enqueue('newsletter/send', { campaignId: next, userId: 'dig-15-again' });
    const job = await waitForState(producer.getQueue('newsletter'), jobId, 'completed');
    expect(job.returnvalue).toEqual({ skipped: 'unsubscribed' });
    expect(bed.peers.smtp.messages).toHaveLength(0);
  }, 60_000);
});
