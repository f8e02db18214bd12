// Fair shares between tenants within a queue (issue 26, item 4), as the writer places jobs in
// BullMQ's prioritized set: the order asserted is the order a real BullMQ Worker takes them in.
import { randomUUID } from 'node:crypto';
import { sharedRedis, TEST_ENCRYPTION_KEYS, type RedisPeer } from '@ceres/testing';
import { Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createQueueClient, loadQueuesConfig, tenantOfData, type QueueClient } from '../../src';
import { FAIR_SPAN } from '../../src/writer/bullmq-layout';

let redis: RedisPeer;
let client: QueueClient;
let prefix: string;

beforeAll(() => {
  redis = sharedRedis();
});

beforeEach(async () => {
  prefix = `${redis.prefix.slice(0, -1)}-f${randomUUID().slice(0, 8)}:`;
  client = createQueueClient({
    config: loadQueuesConfig({ REDIS_URL: redis.url, REDIS_PREFIX: prefix, JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS }),
  });
  await client.ready();
});

afterEach(async () => {
  await client.close();
});

const welcome = (userId: string) => ({ userId, email: `${userId}@example.com`, firstName: 'Ana' });
const users = (tenant: string, n: number) => Array.from({ length: n }, (_, i) => welcome(`${tenant}-${i}`));

/** Runs a real BullMQ Worker (concurrency 1) over the email queue until `count` jobs ran; their tenants in order. */
async function takeOrder(count: number): Promise<string[]> {
  const order: string[] = [];
  const connection = new Redis(redis.url, { db: 5, maxRetriesPerRequest: null });
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const worker = new Worker(
    'email',
    async (job: Job) => {
      order.push(tenantOfData(job.data));
      if (order.length === count) done();
    },
    { connection, prefix: client.getQueue('email').opts.prefix, concurrency: 1 },
  );
  await finished;
  await worker.close();
  connection.disconnect();
  return order;
}

describe('fair shares within a queue', () => {
  it("a tenant's backlog does not delay another tenant's first job: the tenants take turns", async () => {
    await client.enqueueBulk('email/welcome', users('a', 40), { tenant: 'a' });
    await client.enqueueBulk('email/welcome', users('b', 5), { tenant: 'b' });
    const order = await takeOrder(12);
    // A arrived first (its first job), then B's first; from then on they alternate.
    expect(order).toEqual(['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'a']);
  });

  it("a newcomer goes before a backlogged tenant's next job even after the backlog started running", async () => {
    await client.enqueueBulk('email/welcome', users('a', 30), { tenant: 'a' });
    const first = await takeOrder(10);
    expect(new Set(first)).toEqual(new Set(['a']));
    await client.enqueue('email/welcome', welcome('c-1'), { tenant: 'c' });
    expect(await takeOrder(1)).toEqual(['c']);
  });

  it('200 tenants with backlogs: every first job runs before any third', async () => {
    const tenants = Array.from({ length: 200 }, (_, i) => `t${i}`);
    for (const tenant of tenants) await client.enqueueBulk('email/welcome', users(tenant, 3), { tenant });
    const order = await takeOrder(600);
    const seen = new Map<string, number>();
    const rank = order.map((tenant) => {
      const n = (seen.get(tenant) ?? 0) + 1;
      seen.set(tenant, n);
      return n;
    });
    const lastFirst = rank.lastIndexOf(1);
    const firstThird = rank.indexOf(3);
    expect(lastFirst).toBeLessThan(firstThird);
    expect(seen.size).toBe(200);
  });

  it('priorities still order the jobs of a tenant, after the fair ones', async () => {
    await client.enqueueBulk('email/welcome', users('a', 3), { tenant: 'a' });
    await client.enqueue('email/welcome', welcome('a-late'), { tenant: 'a', priority: 5 });
    await client.enqueue('email/welcome', welcome('a-urgent'), { tenant: 'a', priority: 1 });
    const job = await client.getQueue('email').getJob('a@email:welcome:a-urgent');
    expect(job?.priority).toBe(FAIR_SPAN + 1);
    const ids: string[] = [];
    const connection = new Redis(redis.url, { db: 5, maxRetriesPerRequest: null });
    const worker = new Worker(
      'email',
      async (taken: Job) => {
        ids.push(taken.id!);
      },
      { connection, prefix: client.getQueue('email').opts.prefix, concurrency: 1 },
    );
    await new Promise<void>((resolve) => worker.on('drained', resolve));
    await worker.close();
    connection.disconnect();
    expect(ids).toEqual([
      'a@email:welcome:a-0',
      'a@email:welcome:a-1',
      'a@email:welcome:a-2',
      'a@email:welcome:a-urgent',
      'a@email:welcome:a-late',
    ]);
  });

  it('a queue only the default tenant uses stays FIFO in the wait list, with today’s ids and data', async () => {
    await client.enqueue('email/welcome', welcome('user-123'));
    const queue = client.getQueue('email');
    const job = await queue.getJob('email:welcome:user-123');
    expect(await job?.getState()).toBe('waiting');
    expect(job?.priority).toBe(0);
    expect(Object.keys(job!.data as object)).not.toContain('$tenant');
  });
});
