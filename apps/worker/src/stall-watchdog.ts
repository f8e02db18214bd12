import { EventEmitter } from 'node:events';
import type { QueueName } from '@ceres/queues';
import type { Queue } from 'bullmq';
import type { Logger } from 'pino';
import type { RunnerEvents } from './runner/job-runner';
import { errorSummary } from './redact';

/** What the watchdog needs of a runner: its events, whether a queue's worker is busy, and a rebuild. */
export interface WatchedRunner extends Pick<EventEmitter<RunnerEvents>, 'on' | 'off'> {
  readonly queues: readonly QueueName[];
  hasFreeSlot(queue: QueueName): boolean;
  rebuild(queue: QueueName): Promise<void>;
}

export interface StallWatchdogOptions {
  /** How often to look; a queue is suspect when it fetched nothing for this long while jobs wait. */
  intervalMs: number;
  logger: Logger;
  /**
   * The `max` of the queue's BullMQ limiter check: while its window is full (the rate reached, or
   * a back-pressure pause), waiting jobs wait on purpose.
   */
  limiterMax(queue: QueueName): number;
  /** The queue, to count its waiting jobs through the producer connection. */
  queue(queue: QueueName): Queue;
}

export interface StallWatchdogEvents {
  /** A worker stayed stalled after a rebuild: the process should exit non-zero so its supervisor restarts it. */
  gaveUp: [queue: QueueName];
}

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

/**
 * Notices a worker that silently stopped taking jobs (a blocking connection lost without an error,
 * as reported after Sentinel failovers): jobs waiting, a free slot, and no job started for a whole
 * interval. The first time it rebuilds the worker; if the next look finds it stalled again, it
 * gives up (`gaveUp`). Nothing is checked while Redis cannot be reached: that is an outage, and
 * the connections recover by themselves. It learns when jobs start from the runner's events.
 */
export class StallWatchdog extends EventEmitter<StallWatchdogEvents> {
  private readonly lastJobStart = new Map<QueueName, number>();
  private readonly workerStart = new Map<QueueName, number>();
  private readonly strikes = new Map<QueueName, { count: number; at: number }>();
  private timer: NodeJS.Timeout | undefined;
  private looking = false;
  private readonly onAttempt = (queue: QueueName) => void this.lastJobStart.set(queue, Date.now());
  private readonly onWorker = (queue: QueueName) => void this.workerStart.set(queue, Date.now());

  constructor(
    private readonly runner: WatchedRunner,
    private readonly options: StallWatchdogOptions,
  ) {
    super();
    runner.on('attemptStarted', this.onAttempt).on('workerStarted', this.onWorker);
  }

  start(): this {
    this.timer ??= setInterval(() => void this.look(), this.options.intervalMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.runner.off('attemptStarted', this.onAttempt).off('workerStarted', this.onWorker);
  }

  private async look(): Promise<void> {
    if (this.looking) return;
    this.looking = true;
    const { logger, intervalMs } = this.options;
    try {
      for (const queue of this.runner.queues) {
        const lastJob = this.lastJobStart.get(queue) ?? 0;
        // A job taken since the last strike: whatever it was, it is over.
        if (lastJob > (this.strikes.get(queue)?.at ?? Infinity)) this.strikes.delete(queue);
        const idleMs = Date.now() - Math.max(lastJob, this.workerStart.get(queue) ?? 0);
        if (idleMs < intervalMs || !this.runner.hasFreeSlot(queue)) continue;
        const bullQueue = this.options.queue(queue);
        // An operator's pause keeps jobs waiting on purpose.
        if (await bullQueue.isPaused()) continue;
        const counts = await bullQueue.getJobCounts('waiting', 'prioritized');
        if ((counts.waiting ?? 0) + (counts.prioritized ?? 0) === 0) continue;
        // A rate limit or a pause keeps jobs waiting on purpose, and with several processes this
        // one may rightly win none of the few jobs a low rate lets through.
        if (await isLimited(bullQueue, this.options.limiterMax(queue))) continue;
        const strike = (this.strikes.get(queue)?.count ?? 0) + 1;
        this.strikes.set(queue, { count: strike, at: Date.now() });
        if (strike === 1) {
          logger.error(
            { queue, idleMs, waiting: counts.waiting, prioritized: counts.prioritized },
            'worker stalled: jobs wait but none was taken; rebuilding the worker',
          );
          await this.runner.rebuild(queue);
        } else {
          logger.fatal({ queue, idleMs }, 'worker still stalled after a rebuild; exiting so the supervisor restarts the process');
          this.emit('gaveUp', queue);
        }
      }
    } catch (error) {
      logger.warn({ err: errorSummary(error) }, 'stall check could not read the queues');
    } finally {
      this.looking = false;
    }
  }
}
