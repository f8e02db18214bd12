import { createDb } from '@ceres/db';
import { createRedisConnection, eraseUserData, QueueClient } from '@ceres/queues';
import { waitFor } from '@ceres/testing';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createDeadLetters } from '../src/dead-letters';
import { createLogger } from '../src/deps/logger';
import { configFor, useTestBed, waitForState, workerEnv } from './helpers/harness';

// Issue 24 item 8, against real Redis and PostgreSQL (stopped and started again).
// Servers of its own: a test stops PostgreSQL.
const bed = useTestBed({ ownServers: true });

describe('a dead letter retried from memory', () => {
  it('item 8: is not archived again once the user was erased in the meantime', async () => {
    const env = workerEnv(bed.peers);
    const producer = bed.producer(env);
    const queue = producer.getQueue('email');
    const { jobId } = await producer.enqueue('email/welcome', { userId: 'dl-8', email: 'dl-8@example.com', firstName: 'D' });
    // A final failure, as the worker sees it (its `failed` event with the job).
    let failed: Job | undefined;
    const worker = new Worker(
      'email',
      async () => {
        throw new UnrecoverableError('550 for good');
      },
      {
        connection: createRedisConnection(producer.config, 'worker'),
        prefix: queue.opts.prefix,
      },
    );
    worker.on('failed', (job) => (failed = job));
    await waitForState(queue, jobId, 'failed');
    await waitFor(async () => failed?.finishedOn, { what: 'the failed event' });
    await worker.close();

    const db = createDb(bed.peers.postgres.url);
    // The worker's own client: it may use the dead-letter alerts' reserved keys.
    const queues = new QueueClient({ config: configFor(env).queues, allowReservedKeys: true });
    bed.producers.push(queues);
    const deadLetters = createDeadLetters({ db, queues, logger: createLogger('silent'), retryDelaysMs: [4_000] });
    try {
      // PostgreSQL down when the job dies: the recording is retried from memory.
      await bed.peers.postgres.stop();
      try {
        await deadLetters.onFailed(failed, new Error('550 for good'));
        expect(deadLetters.pending).toBe(1);
      } finally {
        await bed.peers.postgres.start();
      }
      // It is back; the user is erased before the next retry.
      const counts = await eraseUserData({ client: producer, db: bed.db, log: { info: () => {} } }, 'dl-8');
      expect(counts.jobsByQueue.email).toBe(1);
      await waitFor(async () => deadLetters.pending === 0, { timeoutMs: 20_000, what: 'the retry to run' });
      expect(await bed.db.failedJobs.list({ queue: 'email', jobId })).toEqual([]);
    } finally {
      deadLetters.stop();
      await db.close();
    }
  }, 60_000);
});
