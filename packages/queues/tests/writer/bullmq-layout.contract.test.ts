// The contract of src/writer/bullmq-layout.ts: what it assumes of BullMQ's Redis layout, checked
// against the installed BullMQ through its public API. When an upgrade changes the layout, this
// file fails before any duplicate is misjudged.
import { randomUUID } from 'node:crypto';
import { sharedRedis, type RedisPeer } from '@ceres/testing';
import { FlowProducer, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decide,
  decideAndAdd,
  defineLayoutScripts,
  nextDelayedAt,
  prepareDecideAndAdd,
  releaseClaims,
  Verdict,
} from '../../src/writer/bullmq-layout';

let redis: RedisPeer;
let connection: Redis;
let queue: Queue;
let worker: Worker;
const prefix = `c${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  redis = sharedRedis();
  connection = new Redis(redis.url, { maxRetriesPerRequest: null });
  defineLayoutScripts(connection);
  queue = new Queue('contract', { connection, prefix });
  worker = new Worker('contract', null, { connection: connection.duplicate(), prefix, autorun: false });
});

afterAll(async () => {
  await worker.close();
  await queue.close();
  connection.disconnect();
});

/** Takes the next job with a lock, as a worker does. */
async function take(jobId: string) {
  const token = randomUUID();
  const job = await worker.getNextJob(token);
  expect(job?.id).toBe(jobId);
  return { job: job!, token };
}

const verdictOf = async (jobId: string, window: 'pending' | 'pending-or-same-payload' | 'retention', data = '{"n":1}') => {
  const token = randomUUID();
  const [verdict] = await decide(connection, [{ queue, jobId, window, data }], token, 1_000);
  await releaseClaims(connection, [queue.toKey(`ceres-claim:${jobId}`)]);
  return verdict;
};

describe("BullMQ's layout, as bullmq-layout.ts reads it", () => {
  it('a job is the hash queue.toKey(id), its payload JSON in the field "data"', async () => {
    await queue.add('a', { n: 1, s: 'x' }, { jobId: 'layout-1' });
    expect(await connection.exists(queue.toKey('layout-1'))).toBe(1);
    expect(JSON.parse((await connection.hget(queue.toKey('layout-1'), 'data'))!)).toEqual({ n: 1, s: 'x' });
    await queue.remove('layout-1');
    expect(await connection.exists(queue.toKey('layout-1'))).toBe(0);
  });

  it.each(['waiting', 'delayed', 'prioritized', 'active', 'waiting-children', 'paused'] as const)(
    'a %s job is pending: every window calls a new enqueue a duplicate',
    async (state) => {
      const jobId = `pending-${state}`;
      if (state === 'waiting-children') {
        const flows = new FlowProducer({ connection, prefix });
        await flows.add({
          name: 'parent',
          queueName: 'contract',
          data: { n: 1 },
          opts: { jobId },
          children: [{ name: 'child', queueName: 'contract-children', data: {} }],
        });
        await flows.close();
      } else {
        if (state === 'paused') await queue.pause();
        await queue.add(
          'a',
          { n: 1 },
          { jobId, ...(state === 'delayed' ? { delay: 60_000 } : {}), ...(state === 'prioritized' ? { priority: 3 } : {}) },
        );
      }
      const held = state === 'active' ? await take(jobId) : undefined;
      const expected = state === 'paused' ? 'waiting' : state;
      expect(await queue.getJobState(jobId)).toBe(expected);
      for (const window of ['pending', 'pending-or-same-payload', 'retention'] as const) {
        expect(await verdictOf(jobId, window, '{"n":2}')).toBe(Verdict.Duplicate);
      }
      if (held) await held.job.moveToCompleted('ok', held.token, false);
      if (state === 'paused') await queue.resume();
      await queue.remove(jobId);
    },
  );

  it.each(['completed', 'failed'] as const)('a %s job is finished: its id is in the sorted set queue.toKey(state)', async (state) => {
    const jobId = `finished-${state}`;
    await queue.add('a', { n: 1 }, { jobId });
    const { job, token } = await take(jobId);
    if (state === 'completed') await job.moveToCompleted('ok', token, false);
    else await job.moveToFailed(new UnrecoverableError('no'), token, false);
    expect(await queue.getJobState(jobId)).toBe(state);
    expect(await connection.zscore(queue.toKey(state), jobId)).not.toBeNull();
    expect(await verdictOf(jobId, 'retention')).toBe(Verdict.Duplicate);
    expect(await verdictOf(jobId, 'pending')).toBe(Verdict.Replace);
    expect(await verdictOf(jobId, 'pending-or-same-payload', '{"n":1}')).toBe(Verdict.Duplicate);
    expect(await verdictOf(jobId, 'pending-or-same-payload', '{"n":2}')).toBe(Verdict.Replace);
    // Queue.remove frees the id for the replacement, which keeps it.
    await queue.remove(jobId);
    await queue.add('a', { n: 2 }, { jobId });
    expect(await queue.getJobState(jobId)).toBe('waiting');
    await queue.remove(jobId);
  });

  it('an id no job has is new, and the claim keys are not BullMQ job ids', async () => {
    expect(await verdictOf('nobody', 'pending')).toBe(Verdict.New);
    const token = randomUUID();
    await decide(connection, [{ queue, jobId: 'claimed', window: 'pending', data: '' }], token, 1_000);
    expect(await verdictOf('claimed', 'pending')).toBe(Verdict.InFlight);
    // BullMQ refuses custom ids with more than 3 ':'-parts, so `ceres-claim:<queue>:<job>:<key>` is never a job.
    await expect(queue.add('a', {}, { jobId: 'ceres-claim:email:verify:u1' })).rejects.toThrow();
    await releaseClaims(connection, [queue.toKey('ceres-claim:claimed')]);
    expect(await verdictOf('claimed', 'pending')).toBe(Verdict.New);
  });

  it('the delayed set is scored by due time × 0x1000: nextDelayedAt is the earliest due time, also for a retry', async () => {
    expect(await nextDelayedAt(connection, queue)).toBeNull();
    const before = Date.now();
    await queue.add('a', {}, { jobId: 'later', delay: 60_000 });
    await queue.add('a', {}, { jobId: 'sooner', delay: 30_000 });
    const due = await nextDelayedAt(connection, queue);
    expect(due).toBeGreaterThanOrEqual(before + 30_000);
    expect(due).toBeLessThanOrEqual(Date.now() + 30_000);
    await queue.remove('sooner');
    await queue.remove('later');

    // A failed attempt with backoff: due at failure + backoff, whatever the job's timestamp.
    await queue.add('a', {}, { jobId: 'retried', attempts: 2, backoff: { type: 'fixed', delay: 90_000 } });
    const { job, token } = await take('retried');
    const failedAt = Date.now();
    await job.moveToFailed(new Error('attempt 1'), token, false);
    expect(await queue.getJobState('retried')).toBe('delayed');
    const retryDue = (await nextDelayedAt(connection, queue))!;
    expect(retryDue).toBeGreaterThanOrEqual(failedAt + 90_000);
    expect(retryDue).toBeLessThanOrEqual(Date.now() + 90_000);
    await queue.remove('retried');
    expect(await nextDelayedAt(connection, queue)).toBeNull();
  });

  it.each([
    ['standard', {}],
    ['delayed', { delay: 60_000 }],
    ['prioritized', { priority: 4 }],
  ] as const)('a %s add through the decide-and-add script stores what Queue.add stores, in the same state', async (kind, extra) => {
    const opts = { attempts: 6, backoff: { type: 'custom' }, removeOnComplete: { age: 3600 }, ...extra };
    const data = { n: 7, s: 'é"x' };
    await queue.add('a', data, { ...opts, jobId: `by-add-${kind}` });
    const prepared = prepareDecideAndAdd(
      queue,
      'a',
      data,
      { ...opts, jobId: `by-script-${kind}` },
      { queue, jobId: `by-script-${kind}`, window: 'retention', data: '' },
    );
    const [answer] = await decideAndAdd(connection, [prepared]);
    expect(answer).toEqual({ verdict: Verdict.New, added: `by-script-${kind}` });
    const [byAdd, byScript] = await Promise.all([`by-add-${kind}`, `by-script-${kind}`].map((id) => connection.hgetall(queue.toKey(id))));
    // The add time differs by a few ms; for a delayed job it is part of the stored delay's base too.
    const comparable = (hash: Record<string, string>) => ({
      ...hash,
      timestamp: 'T',
      opts: hash.opts!.replace(/by-(add|script)-/, 'by-?-'),
    });
    expect(comparable(byScript!)).toEqual(comparable(byAdd!));
    expect(await queue.getJobState(`by-script-${kind}`)).toBe(await queue.getJobState(`by-add-${kind}`));
    // Again: the stored job is found, nothing is written.
    const again = prepareDecideAndAdd(
      queue,
      'a',
      data,
      { ...opts, jobId: `by-script-${kind}` },
      { queue, jobId: `by-script-${kind}`, window: 'retention', data: '' },
    );
    expect(await decideAndAdd(connection, [again])).toEqual([{ verdict: Verdict.Duplicate }]);
    await Promise.all([queue.remove(`by-add-${kind}`), queue.remove(`by-script-${kind}`)]);
  });

  it("a fair position replaces the options' priority where BullMQ's prioritized add reads it: stored as Queue.add with that priority stores it", async () => {
    // A first tenant's job: an empty prioritized set, so the tenant arrives at position 1.
    const opts = { attempts: 6, removeOnComplete: { age: 3600 }, priority: 1 };
    const prepared = prepareDecideAndAdd(
      queue,
      'a',
      { n: 1 },
      { ...opts, jobId: 'fair-1' },
      { queue, jobId: 'fair-1', window: 'retention', data: '', fairTenant: 'acme' },
    );
    const second = prepareDecideAndAdd(
      queue,
      'a',
      { n: 2 },
      { ...opts, jobId: 'fair-2' },
      { queue, jobId: 'fair-2', window: 'retention', data: '', fairTenant: 'acme' },
    );
    await decideAndAdd(connection, [prepared, second]);
    await queue.add('a', { n: 2 }, { ...opts, priority: 2, jobId: 'by-add-2' });
    const [fair, byAdd] = await Promise.all(['fair-2', 'by-add-2'].map((id) => connection.hgetall(queue.toKey(id))));
    // The backlogged tenant's second job: the next even position, in the hash and in BullMQ's options.
    expect(fair!.priority).toBe('2');
    expect(JSON.parse(fair!.opts!).priority).toBe(2);
    expect({ ...fair, timestamp: 'T', data: 'D', opts: fair!.opts!.replace('fair-2', '?') }).toEqual({
      ...byAdd,
      timestamp: 'T',
      data: 'D',
      opts: byAdd!.opts!.replace('by-add-2', '?'),
    });
    expect(await queue.getJobState('fair-2')).toBe('prioritized');
    // BullMQ orders the prioritized set by priority × 2^32 + its counter: what FAIR_LUA reads.
    const scores = await connection.zrange(queue.toKey('prioritized'), 0, -1, 'WITHSCORES');
    expect(Math.floor(Number(scores[1]) / 2 ** 32)).toBe(1);
    expect(scores[0]).toBe('fair-1');
    await Promise.all(['fair-1', 'fair-2', 'by-add-2'].map((id) => queue.remove(id)));
    await connection.del(queue.toKey('ceres-fair'));
  });

  it('a claimed id (a finished job being replaced by another producer) is left alone: in flight, nothing added', async () => {
    await connection.set(queue.toKey('ceres-claim:claimed-1'), 'other', 'PX', 5_000);
    const prepared = prepareDecideAndAdd(
      queue,
      'a',
      { n: 1 },
      { jobId: 'claimed-1' },
      { queue, jobId: 'claimed-1', window: 'pending', data: '' },
    );
    expect(await decideAndAdd(connection, [prepared])).toEqual([{ verdict: Verdict.InFlight }]);
    expect(await connection.exists(queue.toKey('claimed-1'))).toBe(0);
    await connection.del(queue.toKey('ceres-claim:claimed-1'));
  });

  it('refuses options BullMQ refuses before anything is sent', () => {
    expect(() =>
      prepareDecideAndAdd(queue, 'a', {}, { jobId: 'bad', priority: 1.5 }, { queue, jobId: 'bad', window: 'retention', data: '' }),
    ).toThrow(/priority should not be float/i);
  });
});
