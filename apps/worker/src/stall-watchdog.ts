import type { QueueName } from '@ceres/queues';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import { errorSummary } from './redact';

export interface StallWatchdogOptions {
  queues: readonly QueueName[];
  /** How often to look; a queue is suspect when it fetched nothing for this long while jobs wait. */
  intervalMs: number;
  logger: Logger;
  /** When this process last started a job of `queue` (0: never). */
  lastJobStart(queue: QueueName): number;
  /** When the current worker of `queue` was built. */
  workerStart(queue: QueueName): number;
  /** Whether the worker of `queue` has a free slot (a busy worker fetches nothing, rightly). */
  hasFreeSlot(queue: QueueName): boolean;
  /**
   * The `max` of the queue's BullMQ limiter: while its window is full (the rate reached, or a
   * back-pressure pause), waiting jobs wait on purpose.
   */
  limiterMax(queue: QueueName): number;
  /** The queue, to count its waiting jobs through the producer connection. */
  queue(queue: QueueName): Queue;
  /** Rebuilds the worker of `queue` with a new connection. */
  restart(queue: QueueName): Promise<void>;
  /** The restart did not help: the process should exit non-zero so its supervisor restarts it. */
  onStall(queue: QueueName): void;
}

/**
 * Notices a worker that silently stopped taking jobs (a blocking connection lost without an error,
 * as reported after Sentinel failovers): jobs waiting, a free slot, and no job started for a whole
 * interval. The first time it rebuilds the worker; if the next look finds it stalled again, it
 * gives up (`onStall`). Nothing is checked while Redis cannot be reached: that is an outage, and
 * the connections recover by themselves.
 */
/**
 * Whether the queue's limiter holds jobs back now. Sampled twice, a moment apart: just after a
 * window ends, the next job is taken within milliseconds, and a look in between must not count.
 */
async function isLimited(queue: Queue, max: number): Promise<boolean> {
  if ((await queue.getRateLimitTtl(max)) > 0) return true;
  await new Promise((resolve) => setTimeout(resolve, LIMITER_RESAMPLE_MS));
  return (await queue.getRateLimitTtl(max)) > 0;
}

const LIMITER_RESAMPLE_MS = 250;

export function startStallWatchdog(options: StallWatchdogOptions): { stop(): void } {
  const strikes = new Map<QueueName, { count: number; at: number }>();
  let running = false;
  const look = async () => {
    if (running) return;
    running = true;
    try {
      for (const queue of options.queues) {
        const lastJob = options.lastJobStart(queue);
        // A job taken since the last strike: whatever it was, it is over.
        if (lastJob > (strikes.get(queue)?.at ?? Infinity)) strikes.delete(queue);
        const idleMs = Date.now() - Math.max(lastJob, options.workerStart(queue));
        if (idleMs < options.intervalMs || !options.hasFreeSlot(queue)) continue;
        const bullQueue = options.queue(queue);
        // An operator's pause keeps jobs waiting on purpose.
        if (await bullQueue.isPaused()) continue;
        const counts = await bullQueue.getJobCounts('waiting', 'prioritized');
        if ((counts.waiting ?? 0) + (counts.prioritized ?? 0) === 0) continue;
        // A rate limit or a pause keeps jobs waiting on purpose, and with several processes this
        // one may rightly win none of the few jobs a low rate lets through.
        if (await isLimited(bullQueue, options.limiterMax(queue))) continue;
        const strike = (strikes.get(queue)?.count ?? 0) + 1;
        strikes.set(queue, { count: strike, at: Date.now() });
        if (strike === 1) {
          options.logger.error({ queue, idleMs, waiting: counts.waiting, prioritized: counts.prioritized }, 'worker stalled: jobs wait but none was taken; rebuilding the worker');
          await options.restart(queue);
        } else {
          options.logger.fatal({ queue, idleMs }, 'worker still stalled after a rebuild; exiting so the supervisor restarts the process');
          options.onStall(queue);
        }
      }
    } catch (error) {
      options.logger.warn({ err: errorSummary(error) }, 'stall check could not read the queues');
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void look(), options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
