// The worker side of the job timings against a real Redis (job-timings.ts): what one flush writes,
// how long the windows are kept, and that a flush Redis refused loses nothing.
import { randomUUID } from 'node:crypto';
import { sharedRedis, startRedisServer } from '@ceres/testing';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUCKET_COUNT, JobTimings } from '../src';
import { readJobTimings, readWaitWindow } from '../src/job-timings';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
let redis: Redis;
let queue: Queue;

beforeAll(async () => {
  const peer = sharedRedis();
  redis = new Redis(`${peer.url}/5`, { maxRetriesPerRequest: null });
  queue = new Queue('email', { connection: redis, prefix: `${peer.prefix}${randomUUID().slice(0, 6)}` });
  await queue.waitUntilReady();
});

afterAll(async () => {
  await queue?.close();
  redis?.disconnect();
});

const sparse = (buckets: number[]) => Object.fromEntries(buckets.flatMap((count, index) => (count > 0 ? [[index, count]] : [])));

describe('JobTimings', () => {
  it('adds its counts in one flush: per series since they began, the waits per minute and hour with their expiry', async () => {
    const timings = new JobTimings();
    const now = Date.now();
    timings.observe(queue, 'wait', 'welcome', 'default', 3, now);
    timings.observe(queue, 'wait', 'welcome', 'default', 4, now);
    timings.observe(queue, 'wait', 'welcome', 'acme', 700, now);
    timings.observe(queue, 'wait', 'welcome', 'acme', -20, now); // clocks apart: 0
    timings.observe(queue, 'completed', 'welcome', 'default', 120, now);
    timings.observe(queue, 'failed', 'verify', 'default', 45 * MINUTE, now);
    await timings.flush(redis, now);
    expect(timings.size).toBe(0);

    const series = await readJobTimings(redis, queue);
    const of = (kind: string, job: string, tenant: string) => series.find((s) => s.kind === kind && s.job === job && s.tenant === tenant)!;
    expect(series).toHaveLength(4);
    expect(sparse(of('wait', 'welcome', 'default').buckets)).toEqual({ 1: 2 });
    expect(of('wait', 'welcome', 'default').sumMs).toBe(7);
    expect(sparse(of('wait', 'welcome', 'acme').buckets)).toEqual({ 0: 1, 8: 1 });
    expect(of('wait', 'welcome', 'acme').sumMs).toBe(700);
    expect(sparse(of('completed', 'welcome', 'default').buckets)).toEqual({ 6: 1 });
    expect(sparse(of('failed', 'verify', 'default').buckets)).toEqual({ [BUCKET_COUNT - 1]: 1 });

    // Only the waits have windows: the minute's and the hour's, with all four.
    const minute = Math.floor(now / MINUTE);
    const hour = Math.floor(now / HOUR);
    expect(sparse(await readWaitWindow(redis, queue, 'minute', minute, minute))).toEqual({ 0: 1, 1: 2, 8: 1 });
    expect(sparse(await readWaitWindow(redis, queue, 'hour', hour - 3, hour))).toEqual({ 0: 1, 1: 2, 8: 1 });
    expect(sparse(await readWaitWindow(redis, queue, 'minute', minute - 15, minute - 1))).toEqual({});
    // Kept 20 minutes after the minute's end, 4 days after the hour's.
    const minuteTtl = await redis.pttl(queue.toKey(`ceres-wait:minute:${minute}`));
    expect(minuteTtl).toBeGreaterThan(20 * MINUTE - 5_000);
    expect(minuteTtl).toBeLessThanOrEqual(21 * MINUTE);
    const hourTtl = await redis.pttl(queue.toKey(`ceres-wait:hour:${hour}`));
    expect(hourTtl).toBeGreaterThan(4 * 24 * HOUR - 5_000);
    expect(hourTtl).toBeLessThanOrEqual(4 * 24 * HOUR + HOUR);
    // The series since they began never expire.
    expect(await redis.pttl(queue.toKey('ceres-timings'))).toBe(-1);
  });

  it('keeps what Redis did not take for the next flush, and drops a window that would have expired meanwhile', async () => {
    const timings = new JobTimings();
    const now = Date.now();
    // A queue of its own: the minute's window of the test above stays out.
    const files = new Queue('files', { connection: redis, prefix: queue.opts.prefix });
    timings.observe(files, 'wait', 'refused', 'default', 30, now);
    timings.observe(files, 'wait', 'refused', 'default', 30, now - 25 * MINUTE);
    const down = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    down.on('error', () => {});
    await expect(timings.flush(down, now)).rejects.toThrow(/job timing commands failed/);
    down.disconnect();
    expect(timings.size).toBeGreaterThan(0);
    await timings.flush(redis, now);
    const series = (await readJobTimings(redis, files)).find((s) => s.job === 'refused')!;
    expect(sparse(series.buckets)).toEqual({ 4: 2 });
    const minute = Math.floor(now / MINUTE);
    expect(sparse(await readWaitWindow(redis, files, 'minute', minute, minute))).toEqual({ 4: 1 });
    // The minute 25 minutes ago expired 5 minutes ago: never written.
    expect(await redis.exists(files.toKey(`ceres-wait:minute:${minute - 25}`))).toBe(0);
    await files.close();
  });

  it('sends the same few commands for 10,000 jobs as for one: one HINCRBY per bucket hit and sum, one PEXPIREAT per window', async () => {
    // A server of its own: INFO commandstats counts every client's commands.
    const server = await startRedisServer();
    const own = new Redis(`${server.url}/5`, { maxRetriesPerRequest: null });
    try {
      const ownQueue = { name: 'email', toKey: (type: string) => `count:email:${type}` };
      const timings = new JobTimings();
      const now = Date.now();
      for (let n = 0; n < 10_000; n++) {
        timings.observe(ownQueue, 'wait', 'welcome', 'default', [3, 30, 300][n % 3]!, now);
        timings.observe(ownQueue, 'completed', 'welcome', 'default', 40, now);
      }
      const calls = async () => {
        const stats = await own.info('commandstats');
        const of = (command: string) => Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
        return { hincrby: of('hincrby'), pexpireat: of('pexpireat') };
      };
      const before = await calls();
      await timings.flush(own, now);
      const after = await calls();
      // wait: 3 buckets + sum; run: 1 bucket + sum; the minute's and the hour's windows: 3 buckets each.
      expect(after.hincrby - before.hincrby).toBe(4 + 2 + 3 + 3);
      expect(after.pexpireat - before.pexpireat).toBe(2);
      expect(await own.hget('count:email:ceres-timings', 'wait|welcome|default|sum')).toBe(String(3334 * 3 + 3333 * 30 + 3333 * 300));
    } finally {
      own.disconnect();
      await server.close();
    }
  });
});
