import { TENANT_ID, type LedgerBacklog, type QueueName, type TenantOutcome } from '@ceres/queues';
import type { Queue } from 'bullmq';
import { Counter, Gauge, Registry } from 'prom-client';
import { JOB_STATES } from '../admin/queue-admin';
import { withTimeout } from '@ceres/app-kit';

export interface QueueMetricsOptions {
  queues: ReadonlyArray<{ name: QueueName; queue: Queue }>;
  isRedisReady: () => boolean;
  /** How long a scrape waits for Redis before reporting it down. @defaultValue `2000` ms */
  timeoutMs?: number;
  /** The per-tenant series; without it none are exported. */
  tenants?: TenantMetricsOptions;
  /** The job ledger's rows waiting in Redis and dropped at its bound (`CeresStore.ledgerBacklog`); without it no ledger series. */
  ledger?: { backlog(): Promise<LedgerBacklog> };
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
 * it they stay at 0.
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
    const [snapshot, perTenant, ledger] = await Promise.all([this.snapshot(), this.tenantSnapshot(), this.ledgerSnapshot()]);
    redisUp.set(snapshot ? 1 : 0);
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
      for (const state of JOB_STATES) jobs.set({ queue: queue.name, state }, queue.counts[state] ?? 0);
      paused.set({ queue: queue.name }, queue.paused ? 1 : 0);
      completed.inc({ queue: queue.name }, queue.completed);
      failed.inc({ queue: queue.name }, queue.failed);
    }
    if (snapshot && perTenant) {
      const labels = tenantLabels(
        [perTenant.completed, perTenant.failed, perTenant.waiting ?? new Map()],
        this.options.tenants!.maxTenants,
      );
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
    return registry.metrics();
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
  const [counts, paused, completed, failed] = await Promise.all([
    queue.getJobCounts(...JOB_STATES),
    queue.isPaused(),
    queue.getMetrics('completed', 0, 0),
    queue.getMetrics('failed', 0, 0),
  ]);
  return { name, counts, paused, completed: completed.meta.count, failed: failed.meta.count };
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
