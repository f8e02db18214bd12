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
  constructor(private readonly options: QueueMetricsOptions) {}

  get contentType(): string {
    return Registry.PROMETHEUS_CONTENT_TYPE;
  }

  /**
   * Reads every queue from Redis and renders the text exposition format. Each scrape fills a
   * registry of its own: with one shared registry, two scrapes at once (an HA Prometheus pair)
   * would each reset and add the totals, doubling them, and the next scrape would read as a reset.
   */
  async render(): Promise<string> {
    const registry = new Registry();
    const registers = [registry];
    const jobs = new Gauge({
      name: 'ceres_queue_jobs',
      help: 'Jobs in each queue by state, read from Redis at scrape time',
      labelNames: ['queue', 'state'],
      registers,
    });
    const paused = new Gauge({ name: 'ceres_queue_paused', help: '1 while the queue is paused', labelNames: ['queue'], registers });
    const completed = new Counter({
      name: 'ceres_queue_jobs_completed_total',
      help: 'Jobs completed, as counted by BullMQ metrics (workers need the metrics option); rate() gives the throughput',
      labelNames: ['queue'],
      registers,
    });
    const failed = new Counter({
      name: 'ceres_queue_jobs_failed_total',
      help: 'Jobs failed for good, as counted by BullMQ metrics (workers need the metrics option)',
      labelNames: ['queue'],
      registers,
    });
    const redisUp = new Gauge({ name: 'ceres_queue_redis_up', help: '1 when the last scrape could read the queues from Redis', registers });
    const snapshot = await this.snapshot();
    redisUp.set(snapshot ? 1 : 0);
    for (const queue of snapshot ?? []) {
      for (const state of JOB_STATES) jobs.set({ queue: queue.name, state }, queue.counts[state] ?? 0);
      paused.set({ queue: queue.name }, queue.paused ? 1 : 0);
      completed.inc({ queue: queue.name }, queue.completed);
      failed.inc({ queue: queue.name }, queue.failed);
    }
    return registry.metrics();
  }

  /** Every queue's counts, or undefined when Redis cannot be read in time. */
  private async snapshot() {
    if (!this.options.isRedisReady()) return undefined;
    try {
      return await withTimeout(Promise.all(this.options.queues.map(readQueue)), this.options.timeoutMs ?? 2000);
    } catch {
      return undefined;
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
