import {
  TENANT_ID,
  type BreakerView,
  type LedgerBacklog,
  type QueueName,
  type QueueWait,
  type TenantOutcome,
  type TimingSeries,
  type WaitEpisode,
} from '@ceres/queues';
import type { Queue } from 'bullmq';
import { Counter, Gauge, Registry } from 'prom-client';
import { JOB_STATES } from '../admin/queue-admin';
import { addBreakerMetrics } from './breaker-metrics';
import { withTimeout } from '@ceres/app-kit';
import { renderTimings } from './job-timings';

export interface QueueMetricsOptions {
  queues: ReadonlyArray<{ name: QueueName; queue: Queue }>;
  isRedisReady: () => boolean;
  /** How long a scrape waits for Redis before reporting it down. @defaultValue `2000` ms */
  timeoutMs?: number;
  /** The per-tenant series; without it none are exported. */
  tenants?: TenantMetricsOptions;
  /** The long-wait series; without them none are exported. */
  longWait?: LongWaitMetricsOptions;
  /** Where the wait and run times and Redis's memory come from (the admin layer); without it none are exported. */
  timings?: {
    jobTimings(queue: QueueName): Promise<TimingSeries[]>;
    redisMemoryUsed(): Promise<number>;
  };
  /** The worker's circuit breakers (`ceres_breaker_open`); without it none are exported. */
  breakers?: { source: { breakers(): Promise<BreakerView[]> } };
  /** The job ledger's rows waiting in Redis and dropped at its bound (`CeresStore.ledgerBacklog`); without it no ledger series. */
  ledger?: { backlog(): Promise<LedgerBacklog> };
}

export interface LongWaitMetricsOptions {
  source: {
    /** The queue's oldest due job and counts (`QueueAdmin.wait`). */
    wait(queue: QueueName): Promise<QueueWait>;
    /** The queue's open episode, as the detectors keep it in Redis. */
    episode(queue: QueueName): Promise<WaitEpisode | null>;
  };
  /** Each queue's `longWaitSeconds` after its `<QUEUE>_LONG_WAIT_SECONDS`. */
  thresholds: Record<QueueName, number>;
}

export interface TenantMetricsOptions {
  /** Where the per-tenant figures come from (the admin layer). */
  source: {
    waitingPerTenant(queue: QueueName): Promise<Map<string, number>>;
    tenantOutcomes(queue: QueueName, outcome: TenantOutcome): Promise<Map<string, number>>;
  };
  /** `METRICS_MAX_TENANTS`: tenant label values besides `other`. */
  maxTenants: number;
  /** `METRICS_TENANT_SCAN_MS`: the waiting jobs are read per tenant at most this often (0: at every scrape). */
  scanMs: number;
}

/** The label of the tenants beyond `METRICS_MAX_TENANTS` (and of any id that is no tenant id). */
export const OTHER_TENANT = 'other';

type PerTenant = Map<QueueName, Map<string, number>>;

/**
 * The Prometheus view of the queues, read from Redis at scrape time. BullMQ's own
 * `exportPrometheusMetrics()` is not used: its per-queue text repeats `# HELP`/`# TYPE` when
 * several queues are joined, and its `bullmq_job_count` gauge breaks promtool's naming rules.
 *
 * The completed/failed counters are BullMQ's metrics counters (`getMetrics()`), which Redis
 * increments as jobs finish — but only for workers started with the `metrics` option; without
 * it they stay at 0. Read from Redis, they do not reset when a worker or this process restarts.
 * The wait and run histograms are read from the counts the workers add to Redis (job-timings.ts).
 *
 * prom-client's default process metrics are left out: `nodejs_active_handles_total` and its
 * siblings are gauges named like counters, which `promtool check metrics` rejects.
 */
export class QueueMetrics {
  constructor(private readonly options: QueueMetricsOptions) {}

  /** The last per-tenant scan of the waiting jobs, and the one running. */
  private waiting?: { at: number; counts: PerTenant };
  private scanning?: Promise<void>;

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
    const workers = new Gauge({
      name: 'ceres_queue_workers',
      help: 'Worker connections BullMQ sees for the queue (CLIENT LIST)',
      labelNames: ['queue'],
      registers,
    });
    const [snapshot, perTenant, longWaits, timings, breakers, ledger] = await Promise.all([
      this.snapshot(),
      this.tenantSnapshot(),
      this.longWaitSnapshot(),
      this.timingsSnapshot(),
      this.breakerSnapshot(),
      this.ledgerSnapshot(),
    ]);
    if (breakers) addBreakerMetrics(registry, breakers, 2 + 2 * (this.options.tenants?.maxTenants ?? 200));
    redisUp.set(snapshot ? 1 : 0);
    if (timings) {
      new Gauge({
        name: 'ceres_redis_memory_used_bytes',
        help: "Redis's used_memory (INFO memory), read at scrape time",
        registers,
      }).set(timings.memory);
    }
    if (ledger) {
      new Gauge({
        name: 'ceres_job_ledger_pending_rows',
        help: 'Job ledger rows waiting in Redis for PostgreSQL (bounded by JOB_LEDGER_MAX_PENDING_ROWS)',
        registers,
      }).set(ledger.rows);
      new Counter({
        name: 'ceres_job_ledger_dropped_total',
        help: 'Job ledger rows dropped because the Redis list was at JOB_LEDGER_MAX_PENDING_ROWS',
        registers,
      }).inc(ledger.dropped);
    }
    for (const queue of snapshot ?? []) {
      workers.set({ queue: queue.name }, queue.workers);
      for (const state of JOB_STATES) jobs.set({ queue: queue.name, state }, queue.counts[state] ?? 0);
      paused.set({ queue: queue.name }, queue.paused ? 1 : 0);
      completed.inc({ queue: queue.name }, queue.completed);
      failed.inc({ queue: queue.name }, queue.failed);
    }
    if (snapshot && longWaits) this.renderLongWaits(registers, longWaits);
    // One bounded tenant label for every per-tenant series, the histograms' included.
    const labels = tenantLabels(
      [perTenant?.completed, perTenant?.failed, perTenant?.waiting, timings?.tenants].filter((figures) => figures !== undefined),
      this.options.tenants?.maxTenants ?? 0,
    );
    if (snapshot && perTenant) {
      const series = [
        new Counter({
          name: 'ceres_queue_tenant_jobs_completed_total',
          help: `Jobs completed per tenant, as the workers counted them; tenants beyond METRICS_MAX_TENANTS are tenant="${OTHER_TENANT}"`,
          labelNames: ['queue', 'tenant'],
          registers,
        }),
        new Counter({
          name: 'ceres_queue_tenant_jobs_failed_total',
          help: `Jobs failed for good per tenant, as the workers counted them; tenants beyond METRICS_MAX_TENANTS are tenant="${OTHER_TENANT}"`,
          labelNames: ['queue', 'tenant'],
          registers,
        }),
      ] as const;
      for (const [figures, counter] of [
        [perTenant.completed, series[0]],
        [perTenant.failed, series[1]],
      ] as const) {
        for (const [queue, counts] of figures) for (const [tenant, count] of counts) counter.inc({ queue, tenant: labels(tenant) }, count);
      }
      if (perTenant.waiting) {
        const waiting = new Gauge({
          name: 'ceres_queue_tenant_jobs_waiting',
          help: 'Jobs waiting to run (waiting and prioritized) per tenant, read at most every METRICS_TENANT_SCAN_MS',
          labelNames: ['queue', 'tenant'],
          registers,
        });
        for (const [queue, counts] of perTenant.waiting)
          for (const [tenant, count] of counts) waiting.inc({ queue, tenant: labels(tenant) }, count);
      }
    }
    const text = await registry.metrics();
    return snapshot && timings ? text + renderTimings(timings.series, labels) : text;
  }

  /**
   * The wait and run time series of every queue (one HGETALL per queue) and Redis's memory; their
   * tenants per queue, for the labels. Undefined without a source or when Redis cannot be read.
   */
  private async timingsSnapshot() {
    const source = this.options.timings;
    if (!source || !this.options.isRedisReady()) return undefined;
    try {
      const [series, memory] = await withTimeout(
        Promise.all([
          Promise.all(this.options.queues.map(async ({ name }) => ({ queue: name, series: await source.jobTimings(name) }))),
          source.redisMemoryUsed(),
        ]),
        this.options.timeoutMs ?? 2000,
      );
      const tenants: PerTenant = new Map(
        series.map(({ queue, series: all }) => [queue, new Map(all.map((one) => [one.tenant, one.buckets.reduce((a, b) => a + b, 0)]))]),
      );
      return { series, memory, tenants };
    } catch {
      return undefined;
    }
  }

  /**
   * The per-tenant figures: the completed/failed counts at every scrape (one HGETALL per queue and
   * outcome); the waiting jobs from the last scan, rescanned when older than `scanMs` (the scrape
   * waits for it up to its timeout, else shows the previous scan, or no waiting series before the
   * first). Undefined without tenant metrics or when Redis cannot be read.
   */
  private async tenantSnapshot() {
    const tenants = this.options.tenants;
    if (!tenants || !this.options.isRedisReady()) return undefined;
    const timeoutMs = this.options.timeoutMs ?? 2000;
    const names = this.options.queues.map((queue) => queue.name);
    const outcomes = (outcome: TenantOutcome) =>
      Promise.all(names.map(async (name) => [name, await tenants.source.tenantOutcomes(name, outcome)] as const)).then(
        (entries): PerTenant => new Map(entries),
      );
    if (!this.waiting || Date.now() - this.waiting.at >= tenants.scanMs) {
      this.scanning ??= Promise.all(names.map(async (name) => [name, await tenants.source.waitingPerTenant(name)] as const))
        .then((entries) => {
          this.waiting = { at: Date.now(), counts: new Map(entries) };
        })
        .catch(() => {})
        .finally(() => {
          this.scanning = undefined;
        });
      await withTimeout(this.scanning, timeoutMs).catch(() => {});
    }
    try {
      const [completed, failed] = await withTimeout(Promise.all([outcomes('completed'), outcomes('failed')]), timeoutMs);
      return { completed, failed, waiting: this.waiting?.counts };
    } catch {
      return undefined;
    }
  }

  /** The four long-wait gauges of every queue. */
  private renderLongWaits(
    registers: Registry[],
    figures: ReadonlyArray<{ name: QueueName; wait: QueueWait; episode: WaitEpisode | null }>,
  ) {
    const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames: ['queue'], registers });
    const oldest = gauge(
      'ceres_queue_oldest_waiting_seconds',
      'Age of the oldest job due and not started (waiting, prioritized, delayed past its due time), from when it became due; 0 when none',
    );
    const threshold = gauge('ceres_queue_long_wait_threshold_seconds', "The queue's longWaitSeconds, after <QUEUE>_LONG_WAIT_SECONDS");
    const longWait = gauge('ceres_queue_long_wait', '1 from the long-wait alert of an episode to its recovery, else 0');
    const stalled = gauge('ceres_queue_stalled', '1 from the stalled alert of an episode to its recovery, else 0');
    for (const { name, wait, episode } of figures) {
      const open = episode !== null && episode.end === null;
      oldest.set({ queue: name }, wait.oldestWaitingMs / 1000);
      threshold.set({ queue: name }, this.options.longWait!.thresholds[name]);
      longWait.set({ queue: name }, open && episode.everLongWait ? 1 : 0);
      stalled.set({ queue: name }, open && episode.everStalled ? 1 : 0);
    }
  }

  /** Every queue's oldest wait and episode, or undefined without long-wait metrics or when Redis cannot be read in time. */
  private async longWaitSnapshot() {
    const longWait = this.options.longWait;
    if (!longWait || !this.options.isRedisReady()) return undefined;
    try {
      return await withTimeout(
        Promise.all(
          this.options.queues.map(async ({ name }) => {
            const [wait, episode] = await Promise.all([longWait.source.wait(name), longWait.source.episode(name)]);
            return { name, wait, episode };
          }),
        ),
        this.options.timeoutMs ?? 2000,
      );
    } catch {
      return undefined;
    }
  }

  /** The circuit breakers, or undefined without them or when Redis cannot be read in time (no series then). */
  private async breakerSnapshot(): Promise<BreakerView[] | undefined> {
    if (!this.options.breakers || !this.options.isRedisReady()) return undefined;
    return withTimeout(this.options.breakers.source.breakers(), this.options.timeoutMs ?? 2000).catch(() => undefined);
  }

  /** The job ledger's backlog, or undefined without it or when Redis cannot be read in time. */
  private async ledgerSnapshot(): Promise<LedgerBacklog | undefined> {
    if (!this.options.ledger || !this.options.isRedisReady()) return undefined;
    return withTimeout(this.options.ledger.backlog(), this.options.timeoutMs ?? 2000).catch(() => undefined);
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
  const [counts, paused, completed, failed, workers] = await Promise.all([
    queue.getJobCounts(...JOB_STATES),
    queue.isPaused(),
    queue.getMetrics('completed', 0, 0),
    queue.getMetrics('failed', 0, 0),
    queue.getWorkersCount(),
  ]);
  return { name, counts, paused, completed: completed.meta.count, failed: failed.meta.count, workers };
}

/**
 * The tenant label of each tenant id, bounded: `default` and then the other ids seen in `figures`
 * in alphabetical order keep their own label up to `max` of them; the rest, and any value that is
 * no tenant id, are `other`.
 */
export function tenantLabels(figures: ReadonlyArray<PerTenant>, max: number): (tenant: string) => string {
  const seen = new Set<string>();
  for (const perQueue of figures) for (const counts of perQueue.values()) for (const tenant of counts.keys()) seen.add(tenant);
  const ids = [...seen]
    .filter((tenant) => TENANT_ID.test(tenant))
    .sort((a, b) => (a === 'default' ? -1 : b === 'default' ? 1 : a.localeCompare(b)));
  const own = new Set(ids.slice(0, max));
  return (tenant) => (own.has(tenant) ? tenant : OTHER_TENANT);
}
