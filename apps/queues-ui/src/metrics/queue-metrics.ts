import type { QueueName } from '@ceres/queues';
import type { Queue } from 'bullmq';
import { Counter, Gauge, Registry } from 'prom-client';
import { JOB_STATES } from '../admin/queue-admin';
import { withTimeout } from '@ceres/app-kit';

export interface QueueMetricsOptions {
  queues: ReadonlyArray<{ name: QueueName; queue: Queue }>;
  isRedisReady: () => boolean;
  /** How long a scrape waits for Redis before reporting it down. @defaultValue `2000` ms */
  timeoutMs?: number;
}

/**
 * The Prometheus view of the queues, read from Redis at scrape time. BullMQ's own
 * `exportPrometheusMetrics()` is not used: its per-queue text repeats `# HELP`/`# TYPE` when
 * several queues are joined, and its `bullmq_job_count` gauge breaks promtool's naming rules.
 *
 * The completed/failed counters are BullMQ's metrics counters (`getMetrics()`), which Redis
 * increments as jobs finish — but only for workers started with the `metrics` option; without
 * it they stay at 0.
 *
 * prom-client's default process metrics are left out: `nodejs_active_handles_total` and its
 * siblings are gauges named like counters, which `promtool check metrics` rejects.
 */
export class QueueMetrics {
  readonly registry = new Registry();
  private readonly jobs: Gauge<'queue' | 'state'>;
  private readonly paused: Gauge<'queue'>;
  private readonly completed: Counter<'queue'>;
  private readonly failed: Counter<'queue'>;
  private readonly redisUp: Gauge;

  constructor(private readonly options: QueueMetricsOptions) {
    const registers = [this.registry];
    this.jobs = new Gauge({
      name: 'ceres_queue_jobs',
      help: 'Jobs in each queue by state, read from Redis at scrape time',
      labelNames: ['queue', 'state'],
      registers,
    });
    this.paused = new Gauge({ name: 'ceres_queue_paused', help: '1 while the queue is paused', labelNames: ['queue'], registers });
    this.completed = new Counter({
      name: 'ceres_queue_jobs_completed_total',
      help: 'Jobs completed, as counted by BullMQ metrics (workers need the metrics option); rate() gives the throughput',
      labelNames: ['queue'],
      registers,
    });
    this.failed = new Counter({
      name: 'ceres_queue_jobs_failed_total',
      help: 'Jobs failed for good, as counted by BullMQ metrics (workers need the metrics option)',
      labelNames: ['queue'],
      registers,
    });
    this.redisUp = new Gauge({ name: 'ceres_queue_redis_up', help: '1 when the last scrape could read the queues from Redis', registers });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Reads every queue from Redis and renders the text exposition format. */
  async render(): Promise<string> {
    await this.refresh();
    return this.registry.metrics();
  }

  private async refresh(): Promise<void> {
    for (const metric of [this.jobs, this.paused, this.completed, this.failed]) metric.reset();
    if (!this.options.isRedisReady()) {
      this.redisUp.set(0);
      return;
    }
    try {
      const snapshot = await withTimeout(Promise.all(this.options.queues.map(readQueue)), this.options.timeoutMs ?? 2000);
      for (const { name, counts, paused, completed, failed } of snapshot) {
        for (const state of JOB_STATES) this.jobs.set({ queue: name, state }, counts[state] ?? 0);
        this.paused.set({ queue: name }, paused ? 1 : 0);
        this.completed.inc({ queue: name }, completed);
        this.failed.inc({ queue: name }, failed);
      }
      this.redisUp.set(1);
    } catch {
      for (const metric of [this.jobs, this.paused, this.completed, this.failed]) metric.reset();
      this.redisUp.set(0);
    }
  }
}

async function readQueue({ name, queue }: { name: QueueName; queue: Queue }) {
  const [counts, paused, completed, failed] = await Promise.all([
    queue.getJobCounts(...JOB_STATES),
    queue.isPaused(),
    queue.getMetrics('completed', 0, 0),
    queue.getMetrics('failed', 0, 0),
  ]);
  return { name, counts, paused, completed: completed.meta.count, failed: failed.meta.count };
}
