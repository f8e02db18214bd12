import type { Logger } from 'pino';
import type { JobRunner } from './runner/job-runner';

interface Counts {
  completed: number;
  failed: number;
  totalMs: number;
  maxMs: number;
}

/**
 * What the queues did, as one `queue activity` line per queue and interval at `info`: a line per
 * job at `info` cost about as much as a no-op job (bench pair 3). The per-job lines (`job
 * completed`) are at `debug`; a failed attempt is always logged on its own (`warn`), and what
 * happened to one job is in its status, Bull Board and the dead-letter archive.
 */
export class ActivityLog {
  private readonly counts = new Map<string, Counts>();
  private timer: NodeJS.Timeout | undefined;
  private since = Date.now();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  /** Counts the runner's ended attempts (a throttled one is no outcome: the job went back to wait) and starts the interval. */
  watch(runner: Pick<JobRunner, 'on'>): this {
    runner.on('attemptEnded', (queue, outcome, durationMs) => outcome !== 'throttled' && this.record(queue, outcome, durationMs));
    this.start();
    return this;
  }

  start(): void {
    this.timer ??= setInterval(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }

  record(queue: string, outcome: 'completed' | 'failed', durationMs: number): void {
    let counts = this.counts.get(queue);
    if (!counts) this.counts.set(queue, (counts = { completed: 0, failed: 0, totalMs: 0, maxMs: 0 }));
    counts[outcome] += 1;
    counts.totalMs += durationMs;
    if (durationMs > counts.maxMs) counts.maxMs = durationMs;
  }

  /** Logs the lines of the queues that did something since the last flush. */
  flush(): void {
    const now = Date.now();
    for (const [queue, { completed, failed, totalMs, maxMs }] of this.counts) {
      const attempts = completed + failed;
      this.logger.info(
        { queue, completed, failed, avgDurationMs: Math.round(totalMs / attempts), maxDurationMs: maxMs, periodMs: now - this.since },
        'queue activity',
      );
    }
    this.counts.clear();
    this.since = now;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
  }
}
