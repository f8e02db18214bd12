import type { QueuesConfig } from './config';
import { followAnnouncements, type Announcements } from './announcements';
import type { RedisClient } from './connection';
import { isQueueName, type QueueName } from './registry';
import { pauseChannel } from './writer/ceres-keys';

/*
 * A queue-wide back-pressure pause (a peer throttled us) without a per-job cost. The pause is
 * BullMQ's limiter key (`Queue.rateLimit(ms)`): a Worker with a limiter (a queue with a rate)
 * honours it in Redis by itself, and `getRateLimitTtl` reads it. A Worker without one ignores the
 * key, and giving every Worker a limiter made every job pay a limiter check for a pause that is
 * almost never in force; so the pause is also published, and each worker process holds its own
 * Workers for its length. A process (re)connecting reads the keys once: a pause announced while it
 * was away still holds it.
 */

/** One announced pause. */
export interface PauseNotice {
  queue: QueueName;
  ms: number;
}

/** Announces a pause of `queue` for `ms` to every worker process (the key is set first). */
export async function announcePause(connection: RedisClient, config: QueuesConfig, notice: PauseNotice): Promise<void> {
  await connection.publish(pauseChannel(config.redisPrefix), JSON.stringify(notice));
}

export type PauseSubscription = Announcements;

/**
 * Calls `onPause` for each pause announced from now on, and, at every (re)connection, for the
 * pauses in force (`remainingMs(queue)`: the limiter key's TTL). One connection per process.
 */
export function subscribeToPauses(
  config: QueuesConfig,
  queues: readonly QueueName[],
  remainingMs: (queue: QueueName) => Promise<number>,
  onPause: (notice: PauseNotice) => void,
  onError: (error: unknown) => void,
): PauseSubscription {
  return followAnnouncements(config, {
    connectionName: 'ceres-back-pressure',
    channel: pauseChannel(config.redisPrefix),
    parse: (message) => {
      const notice = parseNotice(message);
      return notice && queues.includes(notice.queue) ? notice : undefined;
    },
    onNotice: onPause,
    // What was announced while disconnected is in the limiter keys.
    catchUp: async () => {
      const remaining = await Promise.all(queues.map(async (queue) => ({ queue, ms: await remainingMs(queue) })));
      for (const notice of remaining) if (notice.ms > 0) onPause(notice);
    },
    onError,
  });
}

function parseNotice(message: string): PauseNotice | undefined {
  try {
    const { queue, ms } = JSON.parse(message) as Partial<PauseNotice>;
    if (typeof queue === 'string' && isQueueName(queue) && typeof ms === 'number' && ms > 0) return { queue, ms };
  } catch {
    /* not ours: ignored */
  }
  return undefined;
}
