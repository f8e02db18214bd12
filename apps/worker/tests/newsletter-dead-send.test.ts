import { createRedisConnection } from '@ceres/queues';
import { waitFor } from '@ceres/testing';
import { UnrecoverableError, Worker } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createWorkerApp } from '../src/app';
import { createLogger } from '../src/deps/logger';
import { processors } from '../src/processors';
import { configFor, useTestBed, waitForState, workerEnv } from './helpers/harness';

// Issue 24 item 3, against real Redis, PostgreSQL and the Slack stand-in.
const bed = useTestBed();

describe('a newsletter/send job that dies outside its processor', () => {
  it('item 3: its recipient gets the outcome failed, and the campaign closes and is announced', async () => {
    const env = workerEnv(bed.peers);
    const producer = bed.producer(env);
    const store = bed.db.newsletter;
    const id = await store.createCampaign({ subject: 'Dead send', text: 'Hola', html: null });
    await store.addRecipients(id, [{ userId: 'dead-3', email: 'dead-3@example.com', firstName: 'D' }]);
    await store.start(id);
    const { jobId } = await producer.enqueue('newsletter/send', { campaignId: id, userId: 'dead-3' });
    // The job fails for good without the processor's own catch: what a second stall, an attempt
    // timeout or PostgreSQL down for the whole retry schedule do.
    const queue = producer.getQueue('newsletter');
    const killer = new Worker(
      'newsletter',
      async () => {
        throw new UnrecoverableError('job stalled more than allowable limit');
      },
      {
        connection: createRedisConnection(producer.config, 'worker'),
        prefix: queue.opts.prefix,
      },
    );
    await waitForState(queue, jobId, 'failed');
    await killer.close();
    expect((await store.figures(id)).pending).toBe(1);

    // A worker finds the dead letter (its startup reconciliation) and gives the recipient its outcome.
    const app = createWorkerApp({
      config: configFor(env),
      logger: createLogger('silent'),
      processors: { slack: processors.slack, newsletter: processors.newsletter },
      schedulers: false,
    });
    bed.apps.push(app);
    await app.started;
    await waitFor(async () => (await bed.db.failedJobs.list({ queue: 'newsletter', jobId })).length === 1, {
      timeoutMs: 15_000,
      what: 'the dead letter archived',
    });
    await waitFor(async () => (await store.getCampaign(id))?.state === 'done', { timeoutMs: 15_000, what: 'the campaign to be done' });
    expect(await store.figures(id)).toMatchObject({ total: 1, failed: 1, pending: 0 });
    await waitFor(
      async () =>
        bed.peers.slack.requests.some((request) =>
          JSON.stringify(request.body).includes(`(\`${id}\`) is done: 1 recipients, 0 sent, 1 failed`),
        ),
      {
        timeoutMs: 15_000,
        what: 'the summary',
      },
    );
  }, 60_000);
});
