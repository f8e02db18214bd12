import { randomUUID } from 'node:crypto';
import { sharedRedis, TEST_ENCRYPTION_KEYS, type RedisPeer } from '@ceres/testing';
import { Worker, type Job } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createQueueClient, createRedisConnection, loadQueuesConfig, workerSettings } from '../src';

let redis: RedisPeer;

beforeAll(async () => {
  redis = sharedRedis();
});

afterAll(async () => {});

it('retries a failing job after ~1 s and then ~5 s through the strategy registered on the Worker', async () => {
  const config = loadQueuesConfig({
    REDIS_URL: redis.url,
    REDIS_PREFIX: `t${randomUUID().slice(0, 8)}:`,
    JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
  });
  const client = createQueueClient({ config });
  const startedAt: number[] = [];
  const worker = new Worker(
    'email',
    async (job: Job) => {
      startedAt.push(job.processedOn ?? Date.now());
      if (startedAt.length < 3) throw new Error(`transient failure ${startedAt.length}`);
      return 'sent';
    },
    { ...workerSettings, connection: createRedisConnection(config, 'worker'), prefix: config.bullPrefix },
  );
  try {
    const { jobId } = await client.enqueue('email/welcome', { userId: 'retry-me', email: 'a@example.com', firstName: 'A' });
    const job = await waitUntilCompleted(client.getQueue('email'), jobId, 15_000);
    expect(job.returnvalue).toBe('sent');
    expect(job.attemptsMade).toBe(3);
    expect(startedAt).toHaveLength(3);
    const [first, second] = [startedAt[1]! - startedAt[0]!, startedAt[2]! - startedAt[1]!];
    // BullMQ promotes delayed jobs on its own clock; allow scheduling slack but no faster than the schedule.
    expect(first).toBeGreaterThanOrEqual(1_000);
    expect(first).toBeLessThan(2_000);
    expect(second).toBeGreaterThanOrEqual(5_000);
    expect(second).toBeLessThan(6_500);
  } finally {
    await worker.close();
    await client.close();
  }
}, 20_000);

async function waitUntilCompleted(queue: ReturnType<ReturnType<typeof createQueueClient>['getQueue']>, jobId: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await queue.getJob(jobId);
    // Read again once completed: the copy read before may predate the completion (no returnvalue yet).
    if (job && (await job.isCompleted())) return (await queue.getJob(jobId))!;
    if (Date.now() > deadline) throw new Error(`job ${jobId} did not complete in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
