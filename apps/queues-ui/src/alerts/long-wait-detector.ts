import { EventEmitter } from 'node:events';
import {
  SLACK_SEVERITY_ICONS,
  type Payload,
  type QueueAdmin,
  type QueueClient,
  type QueueName,
  type QueueWait,
  type WaitEpisode,
} from '@ceres/queues';
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
  /**
   * Posts to Slack's webhook (`SLACK_WEBHOOK_URL` of queues-ui): used while no worker consumes the
   * slack queue, so an alert goes out with no worker running at all. @defaultValue alerts only go
   * through the slack queue
   */
  postToSlack?: (text: string) => Promise<void>;
}

/** How long one instance holds the posting of a message itself; another may retry after it, if this one failed. */
const DIRECT_POST_CLAIM_MS = 60_000;

/** A Slack webhook poster (10 s timeout); throws on a non-2xx answer. The URL is a secret: never logged. */
export function slackPoster(url: string): (text: string) => Promise<void> {
  return async (text) => {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
      signal: AbortSignal.timeout(10_000),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`Slack webhook answered HTTP ${response.status}`);
  };
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

  /** Sends what the episode still has to send, alert before recovery, then records it sent. */
  private async sendPending(queue: QueueName, episode: WaitEpisode): Promise<void> {
    const { client, admin, log } = this.options;
    const bullQueue = admin.queue(queue);
    if (episode.alertPending) {
      const key = alertKey(queue, episode.start);
      const sent = await this.deliver(queue, { text: episode.text, severity: episode.everStalled ? 'error' : 'warning', dedupeKey: key });
      if (sent === 'later') return;
      await client.store.ackWaitEpisode(bullQueue, episode.start, 'alert');
      if (sent === 'sent')
        log.warn({ queue, waitMs: episode.waitMs, due: episode.due, stalled: episode.everStalled }, 'queue waiting long: alert sent');
      this.emit('sent', queue, 'alert', key);
    }
    if (episode.recoveryPending) {
      const key = recoveryKey(queue, episode.start);
      const sent = await this.deliver(queue, { text: recoveryText(queue, episode), severity: 'info', dedupeKey: key });
      if (sent === 'later') return;
      await client.store.ackWaitEpisode(bullQueue, episode.start, 'recovery');
      if (sent === 'sent') log.info({ queue, lastedMs: (episode.end ?? episode.start) - episode.start }, 'queue recovered: recovery sent');
      this.emit('sent', queue, 'recovery', key);
    }
  }

  /**
   * One message of an episode: a slack/alert job with the episode's id (`duplicate` when another
   * instance enqueued it first), or, while no worker consumes the slack queue and a webhook is
   * set, posted by this instance, the one holding the message's claim in Redis (`later`: another
   * instance holds it, or the post failed and is tried again once the claim expires).
   */
  private async deliver(queue: QueueName, alert: Payload<'slack/alert'> & { severity: 'info' | 'warning' | 'error' }) {
    const { client, admin, postToSlack, log } = this.options;
    if (postToSlack && (await admin.workers('slack').catch(() => undefined)) === 0) {
      if (!(await client.store.claimDirectPost(admin.queue(queue), alert.dedupeKey!, DIRECT_POST_CLAIM_MS))) return 'later';
      try {
        await postToSlack(`${SLACK_SEVERITY_ICONS[alert.severity]} ${alert.text}`);
        return 'sent';
      } catch (error) {
        log.warn(
          { queue, err: { message: (error as Error).message } },
          'long-wait detector: could not post to Slack (no worker consumes the slack queue); tried again later',
        );
        return 'later';
      }
    }
    const { duplicate } = await client.enqueue('slack/alert', alert);
    return duplicate ? 'duplicate' : 'sent';
  }
}
