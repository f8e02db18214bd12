import type { Redis } from 'ioredis';
import type { QueuesConfig } from './config';
import { createRedisConnection } from './connection';
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
export async function announcePause(connection: Redis, config: QueuesConfig, notice: PauseNotice): Promise<void> {
  await connection.publish(pauseChannel(config.redisPrefix), JSON.stringify(notice));
}

export interface PauseSubscription {
  close(): Promise<void>;
}

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
  const subscriber = createRedisConnection(config, 'worker', { connectionName: 'ceres-back-pressure' });
  const channel = pauseChannel(config.redisPrefix);
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    const notice = parseNotice(message);
    if (notice && queues.includes(notice.queue)) onPause(notice);
  });
  // ioredis subscribes again by itself after a reconnect; what was announced meanwhile is in the keys.
  subscriber.on('ready', () => {
    for (const queue of queues) {
      remainingMs(queue).then((ms) => ms > 0 && onPause({ queue, ms }), onError);
    }
  });
  subscriber.subscribe(channel).catch(onError);
  return {
    close: async () => {
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
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
