import { TIMING_BUCKETS, type QueueName, type TimingSeries } from '@ceres/queues';

/*
 * `ceres_job_wait_seconds` and `ceres_job_run_seconds`, rendered from the bucket counts the
 * workers added to Redis (job-timings.ts in @ceres/queues). prom-client's Histogram only counts
 * observations made in this process, so the text is written here, in the exposition format.
 */

const LE = [...TIMING_BUCKETS.map(String), '+Inf'];

const FAMILIES = {
  wait: {
    name: 'ceres_job_wait_seconds',
    help: "Time from a job's enqueue, or its due time (delayed jobs, retries), to its processor's start; workers add theirs to Redis about once a second",
  },
  run: {
    name: 'ceres_job_run_seconds',
    help: "Time from an attempt's processor start to its end, by outcome (an attempt sent back by a throttling relay is not counted); workers add theirs to Redis about once a second",
  },
} as const;

const escapeLabel = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

interface Aggregate {
  labels: string;
  buckets: number[];
  sumMs: number;
}

/**
 * The two histogram families, with their series' tenants mapped by `label` (the bounded tenant
 * label of the other per-tenant series; tenants sharing a label are added up).
 */
export function renderTimings(
  perQueue: ReadonlyArray<{ queue: QueueName; series: readonly TimingSeries[] }>,
  label: (tenant: string) => string,
): string {
  const families = { wait: new Map<string, Aggregate>(), run: new Map<string, Aggregate>() };
  for (const { queue, series } of perQueue) {
    for (const { kind, job, tenant, buckets, sumMs } of series) {
      const outcome = kind === 'wait' ? '' : `,outcome="${kind}"`;
      const labels = `queue="${escapeLabel(queue)}",job="${escapeLabel(job)}",tenant="${escapeLabel(label(tenant))}"${outcome}`;
      const family = families[kind === 'wait' ? 'wait' : 'run'];
      let aggregate = family.get(labels);
      if (!aggregate) family.set(labels, (aggregate = { labels, buckets: new Array<number>(LE.length).fill(0), sumMs: 0 }));
      buckets.forEach((count, index) => (aggregate.buckets[index]! += count));
      aggregate.sumMs += sumMs;
    }
  }
  const lines: string[] = [];
  for (const kind of ['wait', 'run'] as const) {
    const { name, help } = FAMILIES[kind];
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    const sorted = [...families[kind].values()].sort((a, b) => (a.labels < b.labels ? -1 : a.labels > b.labels ? 1 : 0));
    for (const { labels, buckets, sumMs } of sorted) {
      let cumulative = 0;
      buckets.forEach((count, index) => {
        cumulative += count;
        lines.push(`${name}_bucket{${labels},le="${LE[index]}"} ${cumulative}`);
      });
      lines.push(`${name}_sum{${labels}} ${sumMs / 1000}`, `${name}_count{${labels}} ${cumulative}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
