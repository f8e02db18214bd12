import { EventEmitter } from 'node:events';
import type { QueueAdmin, QueueClient, QueueName, QueueWait, WaitEpisode } from '@ceres/queues';
import type { FastifyBaseLogger } from 'fastify';
import { alertKey, alertText, assessWait, RECOVERY_HOLD_MS, recoveryKey, recoveryText, type WaitAssessment } from './long-wait';

export interface LongWaitDetectorOptions {
  /** Reads the queues and keeps the episodes (Redis); enqueues the alerts (needs `allowReservedKeys`). */
  client: QueueClient;
  admin: QueueAdmin;
  /** Each queue's threshold in seconds (`<QUEUE>_LONG_WAIT_SECONDS`). */
  thresholds: Record<QueueName, number>;
  /** `LONG_WAIT_CHECK_MS`: how often every queue is read. */
  intervalMs: number;
  log: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;
}

/** One queue at one check: what was read and judged, and its episode afterwards (null: none). */
export interface QueueCheck {
  wait: QueueWait;
  workers: number | undefined;
  seen: WaitAssessment;
  episode: WaitEpisode | null;
}

export interface LongWaitDetectorEvents {
  /** A check of every queue ended (also when Redis could not be read: then `checks` is empty). */
  checked: [checks: Map<QueueName, QueueCheck>];
  /** This instance enqueued an episode's alert or recovery (another instance may have too: same job id, one job). */
  sent: [queue: QueueName, what: 'alert' | 'recovery', key: string];
}

export type LongWaitDetectorState = 'idle' | 'running' | 'stopped';

/**
 * Watches every queue for long waits and stalls from queues-ui, which runs whether or not any
 * worker does. Each instance reads each queue every `intervalMs` (one script call, plus one CLIENT
 * LIST when jobs are due) and hands what it saw to the queue's episode in Redis
 * (`CeresStore.observeWait`): a script that opens and ends an episode once, whichever instance
 * looks first, so several queues-ui instances need no leader. An episode's alert and recovery are
 * Slack alert jobs with ids of the episode: every instance that finds one still to send enqueues
 * it, and the job id makes it one job, which goes through the Slack queue's rate like any other.
 */
export class LongWaitDetector extends EventEmitter<LongWaitDetectorEvents> {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private failing = false;
  state: LongWaitDetectorState = 'idle';

  constructor(private readonly options: LongWaitDetectorOptions) {
    super();
  }

  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'running';
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.timer);
    await this.running;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.running = this.check()
        .then(
          () => {},
          () => {},
        )
        .finally(() => {
          this.running = undefined;
          if (this.state === 'running') this.schedule(this.options.intervalMs);
        });
    }, ms);
    this.timer.unref();
  }

  /** Reads every queue once and moves their episodes on; errors are logged once per outage. */
  async check(now = Date.now()): Promise<Map<QueueName, QueueCheck>> {
    const checks = new Map<QueueName, QueueCheck>();
    if (!this.options.client.isReady()) {
      this.emit('checked', checks);
      return checks;
    }
    try {
      for (const queue of this.options.admin.names) checks.set(queue, await this.checkQueue(queue, now));
      if (this.failing) this.options.log.info('long-wait detector: reading the queues again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.options.log.warn({ err: error }, 'long-wait detector: could not read the queues; retrying at each check');
      this.failing = true;
    }
    this.emit('checked', checks);
    return checks;
  }

  private async checkQueue(queue: QueueName, now: number): Promise<QueueCheck> {
    const { admin, client } = this.options;
    const thresholdS = this.options.thresholds[queue];
    const thresholdMs = thresholdS * 1000;
    const wait = await admin.wait(queue, now);
    // The workers matter only for a stall, which needs jobs due: no CLIENT LIST for an empty queue.
    // A Redis that refuses CLIENT LIST (an ACL) leaves them unknown: then idle means no job running.
    const workers = wait.due > 0 ? await admin.workers(queue).catch(() => undefined) : undefined;
    const seen = assessWait(wait, workers, thresholdMs);
    const episode = await client.store.observeWait(admin.queue(queue), {
      now,
      longWait: seen.longWait,
      stalled: seen.stalled,
      recoverAfterMs: Math.min(thresholdMs, RECOVERY_HOLD_MS),
      oldestWaitingMs: wait.oldestWaitingMs,
      due: wait.due,
      text: alertText(queue, wait, workers, seen, thresholdS),
    });
    if (episode) await this.sendPending(queue, episode);
    return { wait, workers, seen, episode };
  }

  /** Enqueues what the episode still has to send, alert before recovery, then records it sent. */
  private async sendPending(queue: QueueName, episode: WaitEpisode): Promise<void> {
    const { client, admin, log } = this.options;
    const bullQueue = admin.queue(queue);
    if (episode.alertPending) {
      const key = alertKey(queue, episode.start);
      const { duplicate } = await client.enqueue('slack/alert', {
        text: episode.text,
        severity: episode.everStalled ? 'error' : 'warning',
        dedupeKey: key,
      });
      await client.store.ackWaitEpisode(bullQueue, episode.start, 'alert');
      if (!duplicate)
        log.warn({ queue, waitMs: episode.waitMs, due: episode.due, stalled: episode.everStalled }, 'queue waiting long: alert sent');
      this.emit('sent', queue, 'alert', key);
    }
    if (episode.recoveryPending) {
      const key = recoveryKey(queue, episode.start);
      const { duplicate } = await client.enqueue('slack/alert', { text: recoveryText(queue, episode), severity: 'info', dedupeKey: key });
      await client.store.ackWaitEpisode(bullQueue, episode.start, 'recovery');
      if (!duplicate) log.info({ queue, lastedMs: (episode.end ?? episode.start) - episode.start }, 'queue recovered: recovery sent');
      this.emit('sent', queue, 'recovery', key);
    }
  }
}
