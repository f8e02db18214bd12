import { randomUUID } from 'node:crypto';
import { startRedisServer, TEST_ENCRYPTION_KEYS, type RedisServer } from '@ceres/testing';
import { UnrecoverableError, Worker, type Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createQueueClient, loadQueuesConfig, type QueueClient } from '../../src';
import { connectionOf } from '../../src/client';
import type { DuplicateWindow } from '../../src/jobs/define';
import { claimKey } from '../../src/writer/ceres-keys';
import { JobWriter, type JobToAdd } from '../../src/writer/job-writer';

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
  const config = loadQueuesConfig({
    REDIS_URL: redis.url,
    REDIS_PREFIX: `w${randomUUID().slice(0, 8)}:`,
    JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS,
  });
  client = createQueueClient({ config });
  await client.ready();
  queue = client.getQueue('email');
  writer = new JobWriter({ connection: connectionOf(client), claimMs: 2_000 });
  await admin.config('RESETSTAT');
});

afterAll(async () => {
  await client?.close();
  admin.disconnect();
  await redis.close();
});

const verify = (userId: string, token = 'abcdefghijklmnop1234') => ({ userId, email: 'ana@example.com', firstName: 'Ana', token });
const job = (opts: JobToAdd['opts'], data: unknown = { n: 1 }, window: DuplicateWindow = 'retention'): JobToAdd => ({
  queue,
  name: 'verify',
  data,
  opts,
  window,
});

/** How many times Redis ran `command` since the test's RESETSTAT. */
async function calls(command: string): Promise<number> {
  const stats = await admin.info('commandstats');
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
}

/** Finishes a job as a worker would, without running one: moved to completed (or failed) by BullMQ. */
async function finish(jobId: string, outcome: 'completed' | 'failed'): Promise<void> {
  const stored = (await queue.getJob(jobId))!;
  const token = randomUUID();
  // The public way a job leaves the queue: taken with a lock, then moved to its final set.
  const worker = new Worker(queue.name, null, {
    connection: admin.duplicate({ maxRetriesPerRequest: null }),
    prefix: queue.opts.prefix,
    autorun: false,
  });
  const taken = await worker.getNextJob(token);
  expect(taken?.id).toBe(stored.id);
  if (outcome === 'completed') await taken!.moveToCompleted('done', token, false);
  else await taken!.moveToFailed(new UnrecoverableError('boom'), token, false);
  await worker.close();
  expect(await queue.getJobState(jobId)).toBe(outcome);
}

describe('JobWriter', () => {
  it('adds a new id in one script call that decides and adds: no claim, no release', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => client.enqueue('email/verify', verify(`u${i}`))));
    expect(results.every((result) => !result.duplicate)).toBe(true);
    expect(new Set(results.map((result) => result.jobId)).size).toBe(100);
    expect(await queue.count()).toBe(100);
    // One script run per job; the decide-then-add protocol ran two per job and a DEL per batch.
    const scriptRuns = (await calls('evalsha')) + (await calls('eval'));
    expect(scriptRuns).toBeGreaterThanOrEqual(100);
    // A few more: the first run of each script on a fresh connection is an EVAL after a NOSCRIPT.
    expect(scriptRuns).toBeLessThanOrEqual(100 + 3);
    expect(await calls('del')).toBe(0);
    expect(await calls('set')).toBe(0);
    expect(await admin.keys('*ceres-claim*')).toEqual([]);
  });

  it('settles each job on its own: a job BullMQ refuses fails alone', async () => {
    const [before, refused, after] = await Promise.allSettled([
      writer.addOne(job({ jobId: 'email:verify:ok-1' })),
      writer.addOne(job({ jobId: 'email:verify:bad', priority: 1.5 })),
      writer.addOne(job({ jobId: 'email:verify:ok-2' })),
    ]);
    expect(before).toEqual({ status: 'fulfilled', value: { jobId: 'email:verify:ok-1', duplicate: false } });
    expect(refused.status).toBe('rejected');
    expect(String((refused as PromiseRejectedResult).reason)).toMatch(/priority should not be float/i);
    expect(after).toEqual({ status: 'fulfilled', value: { jobId: 'email:verify:ok-2', duplicate: false } });
    expect(await queue.count()).toBe(2);
    // The refused job's claim is released too: the id is free for a corrected enqueue.
    expect(await writer.addOne(job({ jobId: 'email:verify:bad' }))).toEqual({ jobId: 'email:verify:bad', duplicate: false });
  });

  it('adds none of a batch when BullMQ refuses one of its jobs', async () => {
    await expect(
      writer.add([job({ jobId: 'email:verify:b1' }), job({ priority: 1.5 }), job({ jobId: 'email:verify:b2' })]),
    ).rejects.toThrow(/priority should not be float/i);
    expect(await queue.count()).toBe(0);
    // Nothing stays claimed.
    expect(await admin.exists(claimKey(queue, 'email:verify:b1'), claimKey(queue, 'email:verify:b2'))).toBe(0);
  });

  it('tells duplicates within one batch and across batches', async () => {
    expect(
      await writer.add([job({ jobId: 'email:verify:d1' }), job({ jobId: 'email:verify:d1' }), job({ jobId: 'email:verify:d2' })]),
    ).toEqual([
      { jobId: 'email:verify:d1', duplicate: false },
      { jobId: 'email:verify:d1', duplicate: true },
      { jobId: 'email:verify:d2', duplicate: false },
    ]);
    expect(await writer.add([job({ jobId: 'email:verify:d2' })])).toEqual([{ jobId: 'email:verify:d2', duplicate: true }]);
    expect(await queue.count()).toBe(2);
  });

  it('gives jobs without an id ids of their own, never a duplicate', async () => {
    const results = await writer.add([job({}), job({})]);
    expect(results.map((result) => result.duplicate)).toEqual([false, false]);
    expect(results[0]!.jobId).not.toBe(results[1]!.jobId);
    const soon = await Promise.all([writer.addOne(job({})), writer.addOne(job({}))]);
    expect(soon.map((result) => result.duplicate)).toEqual([false, false]);
    expect(await queue.count()).toBe(4);
  });

  it('stores the payload and options as Queue.add does', async () => {
    const [added] = await writer.add([job({ jobId: 'email:verify:s1', attempts: 4, delay: 60_000 }, verify('s1'))]);
    const single = await writer.addOne(job({ jobId: 'email:verify:s2', attempts: 4, delay: 60_000 }, verify('s2')));
    for (const id of [added!.jobId, single.jobId]) {
      const stored = await queue.getJob(id);
      expect(stored?.data).toEqual(verify(id.split(':')[2]!));
      expect(stored?.opts).toMatchObject({ attempts: 4, delay: 60_000 });
      expect(await stored?.getState()).toBe('delayed');
    }
  });

  describe('duplicate windows', () => {
    const cases: Array<{ window: DuplicateWindow; finished: 'completed' | 'failed'; samePayload: boolean; duplicate: boolean }> = [
      { window: 'pending', finished: 'completed', samePayload: true, duplicate: false },
      { window: 'pending', finished: 'failed', samePayload: true, duplicate: false },
      { window: 'pending-or-same-payload', finished: 'completed', samePayload: true, duplicate: true },
      { window: 'pending-or-same-payload', finished: 'completed', samePayload: false, duplicate: false },
      { window: 'pending-or-same-payload', finished: 'failed', samePayload: false, duplicate: false },
      { window: 'retention', finished: 'completed', samePayload: false, duplicate: true },
      { window: 'retention', finished: 'failed', samePayload: false, duplicate: true },
    ];

    it.each(['pending', 'pending-or-same-payload', 'retention'] as const)(
      '%s: a duplicate while the job is waiting, whatever the payload',
      async (window) => {
        const first = await writer.addOne(job({ jobId: 'email:verify:w' }, verify('w', 'token-1'), window));
        const again = await writer.addOne(job({ jobId: 'email:verify:w' }, verify('w', 'token-2'), window));
        const batch = await writer.add([job({ jobId: 'email:verify:w' }, verify('w', 'token-3'), window)]);
        expect([first.duplicate, again.duplicate, batch[0]!.duplicate]).toEqual([false, true, true]);
        expect((await queue.getJob('email:verify:w'))?.data.token).toBe('token-1');
      },
    );

    it.each(cases)(
      '$window, finished $finished, same payload $samePayload → duplicate $duplicate',
      async ({ window, finished, samePayload, duplicate }) => {
        for (const mode of ['soon', 'now'] as const) {
          const id = `email:verify:${mode}`;
          await writer.addOne(job({ jobId: id }, { userId: mode, token: 'first', n: [1, 2] }, window));
          await finish(id, finished);
          // The same payload with its keys in another order is still the same payload.
          const next = samePayload ? { n: [1, 2], token: 'first', userId: mode } : { userId: mode, token: 'second', n: [1, 2] };
          const result =
            mode === 'soon'
              ? await writer.addOne(job({ jobId: id }, next, window))
              : (await writer.add([job({ jobId: id }, next, window)]))[0];
          expect(result).toEqual({ jobId: id, duplicate });
          const stored = await queue.getJob(id);
          // A replacement keeps the deterministic id and waits to run; a duplicate left the finished job as it was.
          expect(await stored!.getState()).toBe(duplicate ? finished : 'waiting');
          expect(stored!.data).toEqual(duplicate ? { userId: mode, token: 'first', n: [1, 2] } : next);
          await stored!.remove();
        }
      },
    );
  });

  it('50 concurrent identical enqueues from two producers make one job and exactly one duplicate: false', async () => {
    const other = createQueueClient({ config: client.config });
    await other.ready();
    try {
      const payload = verify('race');
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? client : other).enqueue('email/verify', payload)),
      );
      expect(results.filter((result) => !result.duplicate)).toHaveLength(1);
      expect(new Set(results.map((result) => result.jobId))).toEqual(new Set(['email:verify:race']));
      expect(await queue.count()).toBe(1);
    } finally {
      await other.close();
    }
  });

  it('waits for a concurrent add of the same id, and takes over an id whose producer died before adding', async () => {
    // A claim left by a producer that died between its decision and its add.
    await admin.set(claimKey(queue, 'email:verify:orphan'), 'dead-producer', 'PX', 300);
    const started = Date.now();
    expect(await writer.addOne(job({ jobId: 'email:verify:orphan' }))).toEqual({ jobId: 'email:verify:orphan', duplicate: false });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await queue.count()).toBe(1);
    // The same, for a batch.
    await admin.set(claimKey(queue, 'email:verify:orphan-2'), 'dead-producer', 'PX', 300);
    expect(await writer.add([job({ jobId: 'email:verify:orphan-2' })])).toEqual([{ jobId: 'email:verify:orphan-2', duplicate: false }]);
    expect(await queue.count()).toBe(2);
  });
});
