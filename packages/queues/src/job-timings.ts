import type { Queue } from 'bullmq';
import type { RedisClient } from './connection';
import { jobTimingsKey, waitWindowKey } from './writer/ceres-keys';

/*
 * How long jobs wait and run (issue 28, items 1 and 5). A worker process counts each started and
 * finished attempt in memory ({@link JobTimings}) and adds the counts to Redis at most about once a
 * second, so a job sends no Redis command of its own:
 * - one hash per queue, counts since the hash began (`ceres_job_wait_seconds` and
 *   `ceres_job_run_seconds` on queues-ui's /metrics): field `<kind>|<job>|<tenant>|<bucket>` holds
 *   the observations of that bucket alone (not cumulative), `…|sum` their total in ms;
 * - the waits of each queue also per minute (kept 20 minutes: `ceres-jobs stats`) and per hour
 *   (kept 4 days: the daily report), field `<bucket>` → observations.
 */

/** Upper bounds of the histogram buckets in seconds (1 ms to 30 min); one more, +Inf, above the last. */
export const TIMING_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800] as const;

/** Buckets per series: {@link TIMING_BUCKETS} and +Inf. */
export const BUCKET_COUNT = TIMING_BUCKETS.length + 1;

const BOUNDS_MS = TIMING_BUCKETS.map((seconds) => seconds * 1000);
const BUCKET_FIELDS = Array.from({ length: BUCKET_COUNT }, (_, index) => String(index));

/** `wait`: due → started; `completed` / `failed`: an attempt's run, started → finished, by its outcome. */
export type TimingKind = 'wait' | 'completed' | 'failed';
const KINDS: ReadonlySet<string> = new Set<TimingKind>(['wait', 'completed', 'failed']);

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** How long a minute's waits are kept after the minute ends (the stats read the last 15). */
export const MINUTE_WINDOW_TTL_MS = 20 * MINUTE_MS;
/** How long an hour's waits are kept after the hour ends (the daily report reads the last 24). */
export const HOUR_WINDOW_TTL_MS = 4 * 24 * HOUR_MS;

/** The index of the bucket of `ms`: the first whose bound is ≥ it (Prometheus's `le`), else +Inf's. */
export function bucketIndex(ms: number): number {
  let index = 0;
  while (index < BOUNDS_MS.length && ms > BOUNDS_MS[index]!) index += 1;
  return index;
}

/** Counts not yet in Redis: per bucket (+Inf last), and their sum in ms. */
interface Cell {
  buckets: number[];
  sum: number;
}

/** One queue's pending counts: its series by kind, job and tenant; its wait windows by minute and hour. */
interface QueuePending {
  queue: Pick<Queue, 'name' | 'toKey'>;
  series: Map<TimingKind, Map<string, Map<string, Cell>>>;
  minutes: Map<number, Cell>;
  hours: Map<number, Cell>;
}

const newCell = (): Cell => ({ buckets: new Array<number>(BUCKET_COUNT).fill(0), sum: 0 });

/** One command of a flush, and how to put its amount back when Redis did not take it. */
interface Sent {
  restore?: () => void;
}

/**
 * A worker process's observations not yet added to Redis, in nested maps (per observation a few
 * lookups of strings it already has and two array increments: nothing is concatenated).
 * {@link flush} sends them in one pipeline of HINCRBY (one per bucket hit and per sum) and
 * PEXPIREAT (one per window key); a failed command keeps its amount for the next flush, a window
 * whose key would have expired meanwhile is dropped. A process killed before its flush loses at
 * most its last second of observations.
 */
export class JobTimings {
  private pending = new Map<string, QueuePending>();

  /** Counts one observation of `ms` (negative, from clocks apart: 0) at time `at`. */
  observe(queue: Pick<Queue, 'name' | 'toKey'>, kind: TimingKind, job: string, tenant: string, ms: number, at = Date.now()): void {
    const value = ms > 0 ? ms : 0;
    const bucket = bucketIndex(value);
    const cell = this.seriesCell(queue, kind, job, tenant);
    cell.buckets[bucket]! += 1;
    cell.sum += value;
    if (kind !== 'wait') return;
    this.windowCell(queue, 'minute', Math.floor(at / MINUTE_MS)).buckets[bucket]! += 1;
    this.windowCell(queue, 'hour', Math.floor(at / HOUR_MS)).buckets[bucket]! += 1;
  }

  /** Queues with observations not yet in Redis. */
  get size(): number {
    return this.pending.size;
  }

  async flush(redis: RedisClient, now = Date.now()): Promise<void> {
    if (this.pending.size === 0) return;
    const pending = [...this.pending.values()];
    this.pending = new Map();
    // One entry per command sent, in order: the answers come back in the same order.
    // One pipeline per queue: on a cluster a pipeline must stay in one slot, and each queue is one.
    const batches: Array<{ pipeline: ReturnType<RedisClient['pipeline']>; sent: Sent[] }> = [];
    for (const { queue, series, minutes, hours } of pending) {
      const sent: Sent[] = [];
      const pipeline = redis.pipeline();
      batches.push({ pipeline, sent });
      const key = jobTimingsKey(queue);
      for (const [kind, byJob] of series)
        for (const [job, byTenant] of byJob)
          for (const [tenant, cell] of byTenant) {
            const prefix = `${kind}|${job}|${tenant}|`;
            cell.buckets.forEach((count, bucket) => {
              if (count === 0) return;
              pipeline.hincrby(key, prefix + BUCKET_FIELDS[bucket]!, count);
              sent.push({ restore: () => (this.seriesCell(queue, kind, job, tenant).buckets[bucket]! += count) });
            });
            const sum = Math.round(cell.sum);
            pipeline.hincrby(key, `${prefix}sum`, sum);
            sent.push({ restore: () => (this.seriesCell(queue, kind, job, tenant).sum += sum) });
          }
      for (const [unit, windows, ms, ttl] of [
        ['minute', minutes, MINUTE_MS, MINUTE_WINDOW_TTL_MS],
        ['hour', hours, HOUR_MS, HOUR_WINDOW_TTL_MS],
      ] as const) {
        for (const [index, cell] of windows) {
          const expiresAt = (index + 1) * ms + ttl;
          if (expiresAt <= now) continue;
          const windowKey = waitWindowKey(queue, unit, index);
          cell.buckets.forEach((count, bucket) => {
            if (count === 0) return;
            pipeline.hincrby(windowKey, BUCKET_FIELDS[bucket]!, count);
            sent.push({ restore: () => (this.windowCell(queue, unit, index).buckets[bucket]! += count) });
          });
          pipeline.pexpireat(windowKey, expiresAt);
          sent.push({});
        }
      }
    }
    const toSend = batches.filter(({ sent }) => sent.length > 0);
    if (toSend.length === 0) return;
    let cause: unknown;
    let failed = 0;
    let total = 0;
    await Promise.all(
      toSend.map(async ({ pipeline, sent }) => {
        const answers = (await pipeline.exec().catch((error: unknown) => void (cause ??= error))) ?? [];
        total += sent.length;
        sent.forEach(({ restore }, index) => {
          if (answers[index] && !answers[index][0]) return;
          cause ??= answers[index]?.[0];
          failed += 1;
          restore?.();
        });
      }),
    );
    if (failed > 0) {
      const reason = cause instanceof Error ? cause.message : 'no answer';
      throw new Error(`${failed} of ${total} job timing commands failed (${reason}); their counts are kept for the next flush`);
    }
  }

  private queuePending(queue: Pick<Queue, 'name' | 'toKey'>): QueuePending {
    let pending = this.pending.get(queue.name);
    if (!pending) this.pending.set(queue.name, (pending = { queue, series: new Map(), minutes: new Map(), hours: new Map() }));
    return pending;
  }

  private seriesCell(queue: Pick<Queue, 'name' | 'toKey'>, kind: TimingKind, job: string, tenant: string): Cell {
    const series = this.queuePending(queue).series;
    let byJob = series.get(kind);
    if (!byJob) series.set(kind, (byJob = new Map()));
    let byTenant = byJob.get(job);
    if (!byTenant) byJob.set(job, (byTenant = new Map()));
    let cell = byTenant.get(tenant);
    if (!cell) byTenant.set(tenant, (cell = newCell()));
    return cell;
  }

  private windowCell(queue: Pick<Queue, 'name' | 'toKey'>, unit: 'minute' | 'hour', index: number): Cell {
    const pending = this.queuePending(queue);
    const windows = unit === 'minute' ? pending.minutes : pending.hours;
    let cell = windows.get(index);
    if (!cell) windows.set(index, (cell = newCell()));
    return cell;
  }
}

/** One series of a queue's timings hash: its bucket counts (not cumulative, +Inf last) and their sum. */
export interface TimingSeries {
  kind: TimingKind;
  job: string;
  tenant: string;
  buckets: number[];
  sumMs: number;
}

/** Every series of a queue's timings since they began (one HGETALL); fields of another shape are skipped. */
export async function readJobTimings(redis: RedisClient, queue: Pick<Queue, 'toKey'>): Promise<TimingSeries[]> {
  const hash = await redis.hgetall(jobTimingsKey(queue));
  const series = new Map<string, TimingSeries>();
  for (const [field, value] of Object.entries(hash)) {
    const parts = field.split('|');
    if (parts.length !== 4 || !KINDS.has(parts[0]!)) continue;
    const [kind, job, tenant, slot] = parts as [TimingKind, string, string, string];
    const id = `${kind}|${job}|${tenant}`;
    let entry = series.get(id);
    if (!entry) series.set(id, (entry = { kind, job, tenant, buckets: new Array<number>(BUCKET_COUNT).fill(0), sumMs: 0 }));
    const amount = Number(value) || 0;
    if (slot === 'sum') entry.sumMs += amount;
    else {
      const bucket = Number(slot);
      if (Number.isInteger(bucket) && bucket >= 0 && bucket < BUCKET_COUNT) entry.buckets[bucket]! += amount;
    }
  }
  return [...series.values()];
}

/**
 * The waits of a queue in the minutes, or hours, `from` to `to` since the epoch (both included),
 * added up: bucket counts, +Inf last. One pipelined HGETALL per minute or hour.
 */
export async function readWaitWindow(
  redis: RedisClient,
  queue: Pick<Queue, 'toKey'>,
  unit: 'minute' | 'hour',
  from: number,
  to: number,
): Promise<number[]> {
  const buckets = new Array<number>(BUCKET_COUNT).fill(0);
  if (to < from) return buckets;
  const pipeline = redis.pipeline();
  for (let index = from; index <= to; index += 1) pipeline.hgetall(waitWindowKey(queue, unit, index));
  for (const [error, hash] of (await pipeline.exec()) ?? []) {
    if (error) throw error;
    for (const [field, value] of Object.entries(hash as Record<string, string>)) {
      const bucket = Number(field);
      if (Number.isInteger(bucket) && bucket >= 0 && bucket < BUCKET_COUNT) buckets[bucket]! += Number(value) || 0;
    }
  }
  return buckets;
}

/**
 * The `q` quantile (0..1) of a histogram's bucket counts (not cumulative, +Inf last) in seconds,
 * estimated as Prometheus's `histogram_quantile` does: linear within the bucket it falls in, the
 * highest finite bound when it falls in +Inf. Null for an empty histogram.
 */
export function histogramQuantile(q: number, buckets: readonly number[]): number | null {
  const total = buckets.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  for (let index = 0; index < buckets.length; index += 1) {
    const count = buckets[index]!;
    if (count > 0 && below + count >= rank) {
      if (index >= TIMING_BUCKETS.length) return TIMING_BUCKETS[TIMING_BUCKETS.length - 1]!;
      const lower = index === 0 ? 0 : TIMING_BUCKETS[index - 1]!;
      const upper = TIMING_BUCKETS[index]!;
      return lower + (upper - lower) * ((rank - below) / count);
    }
    below += count;
  }
  return TIMING_BUCKETS[TIMING_BUCKETS.length - 1]!;
}

/** A wait in seconds: ms below a second, then s, then min; `-` when no job started. */
export function formatWait(seconds: number | null): string {
  if (seconds === null) return '-';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  return `${(seconds / 60).toFixed(1)} min`;
}
