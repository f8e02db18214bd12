import { waitFor } from '@ceres/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { QueueClient } from '@ceres/queues';
import { createWorkerApp } from '../src/app';
import { fanOut } from '../src/processors/newsletter/fan-out';
import { createLogger } from '../src/deps/logger';
import { configFor, promoteUntilFinished, useTestBed, workerEnv } from './helpers/harness';
import { startSlowSmtp, type SlowSmtp } from './helpers/slow-smtp';

// A relay slower than the attempt's deadline (the issue's: RCPT answered after 12 s, DATA after
// 22 s, against 30 s), scaled down: the deadline is 1 s here (timeoutFor), the relay's delays below.
const bed = useTestBed();
let relay: SlowSmtp | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

async function workerFor(smtpUrl: string, queue: 'email' | 'newsletter' = 'email') {
  const env = workerEnv(bed.peers, { SMTP_URL: smtpUrl });
  const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent'), timeoutFor: () => 1_000, queues: [queue] });
  bed.apps.push(app);
  await app.started;
  return { queues: bed.producer(env), app };
}

describe('an SMTP relay slower than the attempt deadline', () => {
  it('the mail was handed over in full, its answer comes after the deadline: the outcome is unknown, and the retry does not send it again', async () => {
    relay = await startSlowSmtp({ rcptMs: 300, dataMs: 1_500 });
    const { queues } = await workerFor(relay.url);
    const { jobId } = await queues.enqueue('email/welcome', { userId: 'slow-relay', email: 'slow-relay@example.com', firstName: 'S' });
    // Promoted at once: the retry runs while the first transaction still waits for its answer.
    const job = await promoteUntilFinished(queues.getQueue('email'), jobId, 15_000);
    expect(await job.getState()).toBe('completed');
    // Every transaction the attempts started has ended (answered or left): none can deliver more.
    await waitFor(() => relay!.inFlight() === 0, { what: 'the transactions to end' });
    expect(relay.received.filter((to) => to === 'slow-relay@example.com')).toHaveLength(1);
  }, 30_000);

  it('the deadline reaches the transport: a relay that has not answered RCPT TO by then sees the connection closed, and that transaction delivers nothing', async () => {
    relay = await startSlowSmtp({ rcptMs: 2_500, dataMs: 0 });
    const { queues } = await workerFor(relay.url);
    const { jobId } = await queues.enqueue('email/welcome', { userId: 'slow-rcpt', email: 'slow-rcpt@example.com', firstName: 'S' });
    await waitFor(async () => ((await queues.getQueue('email').getJob(jobId))?.attemptsMade ?? 0) >= 1, {
      timeoutMs: 5_000,
      what: 'the first attempt to time out',
    });
    await waitFor(() => relay!.closed.length >= 1, { timeoutMs: 1_000, what: 'the relay to see the connection closed' });
    expect(relay.closed[0]).toEqual({ rcptAnswered: false });
    // The relay has answered that RCPT TO late, on the connection the client left, and no
    // transaction is under way: had the client stayed, its DATA would have followed the answer.
    await waitFor(() => relay!.rcptAnswers() >= 1 && relay!.inFlight() === 0, { what: 'the late RCPT answer' });
    expect(relay.received).toEqual([]);
  }, 30_000);

  it('a newsletter mail of unknown outcome is recorded sent (unconfirmed) and not sent again', async () => {
    relay = await startSlowSmtp({ rcptMs: 300, dataMs: 1_500 });
    const { app } = await workerFor(relay.url, 'newsletter');
    const id = await bed.db.newsletter.createCampaign({ subject: 'S', text: 'T', html: null });
    await bed.db.newsletter.addRecipients(id, [{ userId: 'slow-news', email: 'slow-news@example.com', firstName: 'N' }]);
    await bed.db.newsletter.start(id);
    // The worker's own producer adds the send job, as the fan-out does.
    const ctx = { logger: createLogger('silent'), signal: new AbortController().signal, tenant: 'default' };
    await fanOut(
      { data: { campaignId: id }, updateProgress: async () => {} } as never,
      { db: bed.db, queues: app.deps.queues as QueueClient },
      ctx,
    );
    const job = await promoteUntilFinished(app.deps.queues.getQueue('newsletter'), `newsletter:send:${id}.slow-news`, 15_000);
    expect(await job.getState()).toBe('completed');
    await waitFor(() => relay!.inFlight() === 0, { what: 'the transactions to end' });
    expect(relay.received.filter((to) => to === 'slow-news@example.com')).toHaveLength(1);
    expect(await bed.db.newsletter.figures(id)).toMatchObject({ sent: 1, pending: 0, failed: 0 });
  }, 30_000);
});
