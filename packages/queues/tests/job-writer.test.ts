import { randomUUID } from 'node:crypto';
import { startRedisServer, type RedisServer } from '@ceres/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createQueueClient, loadQueuesConfig, type QueueClient } from '../src';
import { JobWriter, SOON_BATCH_MAX, type JobToAdd } from '../src/job-writer';

let redis: RedisServer;
let admin: Redis;
let client: QueueClient;
let queue: Queue;
let writer: JobWriter;

beforeAll(async () => {
  redis = await startRedisServer();
  admin = new Redis(`${redis.url}/5`);
});

beforeEach(async () => {
  await client?.close();
  // A fresh prefix per test: each starts from empty queues.
  client = createQueueClient({ config: loadQueuesConfig({ REDIS_URL: redis.url, REDIS_PREFIX: `w${randomUUID().slice(0, 8)}:` }) });
  await client.ready();
  queue = client.getQueue('email');
  writer = new JobWriter(client.connection);
  await admin.config('RESETSTAT');
});

afterAll(async () => {
  await client?.close();
  admin.disconnect();
  await redis.close();
});

const verify = (userId: string) => ({ userId, email: 'ana@example.com', firstName: 'Ana', token: 'abcdefghijklmnop1234' });
const job = (opts: JobToAdd['opts'], data: unknown = { n: 1 }): JobToAdd => ({ queue, name: 'verify', data, opts });

/** The mark each job's stored options carry: one value per write that added jobs with ids. */
async function marks(jobIds: string[]): Promise<Array<string | undefined>> {
  const jobs = await Promise.all(jobIds.map((id) => queue.getJob(id)));
  return jobs.map((stored) => (stored?.opts as Record<string, string | undefined> | undefined)?.ceresEnqueueMark);
}

/** How many times Redis ran `command` since the test's RESETSTAT. */
async function calls(command: string): Promise<number> {
  const stats = await admin.info('commandstats');
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
}

describe('JobWriter', () => {
  it('sends the enqueues of one event-loop turn together, in writes of at most SOON_BATCH_MAX', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => client.enqueue('email', 'verify', verify(`u${i}`))));
    expect(results.every((result) => !result.duplicate)).toBe(true);
    expect(new Set(results.map((result) => result.jobId)).size).toBe(100);
    expect(await queue.count()).toBe(100);
    const stored = await marks(results.map((result) => result.jobId));
    expect(stored.every((mark) => typeof mark === 'string')).toBe(true);
    const perWrite = new Map<string | undefined, number>();
    for (const mark of stored) perWrite.set(mark, (perWrite.get(mark) ?? 0) + 1);
    expect(perWrite.size).toBe(Math.ceil(100 / SOON_BATCH_MAX));
    expect(Math.max(...perWrite.values())).toBe(SOON_BATCH_MAX);
  });

  it('writes again for enqueues made in later turns', async () => {
    const jobIds: string[] = [];
    for (let i = 0; i < 3; i++) jobIds.push((await client.enqueue('email', 'verify', verify(`seq${i}`))).jobId);
    expect(new Set(await marks(jobIds)).size).toBe(3);
  });

  it('settles each job of a shared write on its own: a job BullMQ refuses fails alone', async () => {
    const [before, refused, after] = await Promise.allSettled([
      writer.addSoon(job({ jobId: 'email:verify:ok-1' })),
      writer.addSoon(job({ jobId: 'email:verify:bad', priority: 1.5 })),
      writer.addSoon(job({ jobId: 'email:verify:ok-2' })),
    ]);
    expect(before).toEqual({ status: 'fulfilled', value: { jobId: 'email:verify:ok-1', duplicate: false } });
    expect(refused.status).toBe('rejected');
    expect(String((refused as PromiseRejectedResult).reason)).toMatch(/priority should not be float/i);
    expect(after).toEqual({ status: 'fulfilled', value: { jobId: 'email:verify:ok-2', duplicate: false } });
    expect(await queue.count()).toBe(2);
  });

  it('adds a batch all or nothing: one refused job and none is sent', async () => {
    await expect(writer.addNow([job({ jobId: 'email:verify:b1' }), job({ priority: 1.5 }), job({ jobId: 'email:verify:b2' })])).rejects.toThrow(/priority should not be float/i);
    expect(await queue.count()).toBe(0);
    expect(await calls('multi')).toBe(0);
  });

  it('tells duplicates within one batch and across batches', async () => {
    expect(await writer.addNow([job({ jobId: 'email:verify:d1' }), job({ jobId: 'email:verify:d1' }), job({ jobId: 'email:verify:d2' })])).toEqual([
      { jobId: 'email:verify:d1', duplicate: false },
      { jobId: 'email:verify:d1', duplicate: true },
      { jobId: 'email:verify:d2', duplicate: false },
    ]);
    expect(await writer.addNow([job({ jobId: 'email:verify:d2' })])).toEqual([{ jobId: 'email:verify:d2', duplicate: true }]);
    expect(await queue.count()).toBe(2);
  });

  it('gives jobs without an id ids of their own, never a duplicate, and no mark', async () => {
    const results = await writer.addNow([job({}), job({})]);
    expect(results.map((result) => result.duplicate)).toEqual([false, false]);
    expect(results[0]!.jobId).not.toBe(results[1]!.jobId);
    expect(await marks(results.map((result) => result.jobId))).toEqual([undefined, undefined]);
    expect(await queue.count()).toBe(2);
  });

  it('stores the payload and options as Queue.add would', async () => {
    const [added] = await writer.addNow([job({ jobId: 'email:verify:s1', attempts: 4, delay: 60_000 }, verify('s1'))]);
    const stored = await queue.getJob(added!.jobId);
    expect(stored?.data).toEqual(verify('s1'));
    expect(stored?.opts).toMatchObject({ attempts: 4, delay: 60_000 });
    expect(await stored?.getState()).toBe('delayed');
  });
});
