import type { Queue } from 'bullmq';
import type { RedisClient } from '../connection';
import type { QueueName } from '../registry';
import { readQueueWaitFigures } from '../writer/bullmq-layout';

/** Jobs of the wait list and of the prioritized set looked at for the oldest due one (the next in line). */
export const WAIT_SAMPLE = 20;

/** One queue's waiting figures at one moment: what the long-wait detector, `/metrics` and `ceres-jobs stats` show. */
export interface QueueWait {
  name: QueueName;
  /** When it was read (ms since the epoch). */
  at: number;
  /**
   * Age of the oldest job that is due and not started (waiting, prioritized, or delayed past its
   * due time), ms, counted from when it became due; 0 when none is due.
   */
  oldestWaitingMs: number;
  /** Jobs due and not started: waiting + prioritized + delayed past their due time. */
  due: number;
  paused: boolean;
  /** How long the queue's limiter still holds jobs back (its rate window or a back-pressure pause), ms; 0 when not. */
  limitedMs: number;
  active: number;
  /** The newest job start known (of a running job, else the newest finish), or null. */
  newestStartAt: number | null;
}

/**
 * Reads {@link QueueWait} with one script call (a handful of reads inside Redis, whatever the
 * backlog: the oldest of the {@link WAIT_SAMPLE} next jobs of the wait list and the prioritized
 * set, and the earliest delayed job).
 */
export async function readQueueWait(redis: RedisClient, name: QueueName, queue: Queue, now = Date.now()): Promise<QueueWait> {
  const figures = await readQueueWaitFigures(redis, queue, now, WAIT_SAMPLE);
  return {
    name,
    at: now,
    oldestWaitingMs: figures.oldestDueAt === null ? 0 : Math.max(0, now - figures.oldestDueAt),
    due: figures.waiting + figures.prioritized + figures.delayedDue,
    paused: figures.paused,
    limitedMs: figures.limiterMs,
    active: figures.active,
    newestStartAt: figures.newestStartAt,
  };
}
