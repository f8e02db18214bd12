import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { nextDelayedAt, scanJobIds } from './writer/bullmq-layout';
import { deadLetterDigestKeys, reconcileTickKey } from './writer/ceres-keys';

/** Where a dead letter's first recording falls, and its place among the minute's. */
export interface DeadLetterCount {
  /** Minutes since the epoch. */
  minute: number;
  /** 1 for the minute's first dead letter of this queue; stable when the job is recorded again. */
  rank: number;
}

export interface DigestFigures {
  count: number;
  firstJobId: string;
  lastJobId: string;
  /** The most frequent reasons, most frequent first. */
  topReasons: Array<{ reason: string; count: number }>;
}

/** The ranks are needed only while the minute's jobs are recorded; the figures until the digest ran. */
const RANKS_TTL_MS = 10 * 60_000;
const STATS_TTL_MS = 2 * 60 * 60_000;
/** Distinct reasons kept per minute; the others count as one `other reasons` line. */
const MAX_REASONS = 50;
const OTHER_REASONS = '(other reasons)';

const COUNT_SCRIPT = `
local rank = redis.call('HGET', KEYS[1], ARGV[1])
if rank then return tonumber(rank) end
rank = redis.call('HINCRBY', KEYS[2], 'count', 1)
redis.call('HSET', KEYS[1], ARGV[1], rank)
if rank == 1 then redis.call('HSET', KEYS[2], 'first', ARGV[1]) end
redis.call('HSET', KEYS[2], 'last', ARGV[1])
local reason = ARGV[2]
if redis.call('HEXISTS', KEYS[3], reason) == 0 and redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[5]) then reason = ARGV[6] end
redis.call('HINCRBY', KEYS[3], reason, 1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return rank
`;

/**
 * Ceres's own Redis state, each use a named operation (the keys are in writer/ceres-keys.ts):
 * the dead-letter digest's per-minute counts, shared by every worker process (beyond
 * `DEAD_LETTER_DIGEST_AFTER` dead letters in a minute one digest replaces the single alerts), the
 * once-across-instances reconciliation tick, a queue's next due delayed job, and its job ids.
 */
export class CeresStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /**
   * Counts one dead letter in its queue's minute; idempotent per job id within the minute (the
   * same rank again, so a retried recording makes the same alert-or-digest decision).
   */
  async countDeadLetter(dead: { queue: string; jobId: string; reason: string }, now = Date.now()): Promise<DeadLetterCount> {
    const minute = Math.floor(now / 60_000);
    const keys = deadLetterDigestKeys(this.prefix, dead.queue, minute);
    const rank = (await this.redis.eval(
      COUNT_SCRIPT,
      3,
      ...keys,
      dead.jobId,
      dead.reason,
      RANKS_TTL_MS,
      STATS_TTL_MS,
      MAX_REASONS,
      OTHER_REASONS,
    )) as number;
    return { minute, rank };
  }

  /** The figures of one queue's minute, or `undefined` when they are gone (expired). */
  async readDeadLetterDigest(queue: string, minute: number, top = 3): Promise<DigestFigures | undefined> {
    const [, statsKey, reasonsKey] = deadLetterDigestKeys(this.prefix, queue, minute);
    const [stats, reasons] = await Promise.all([this.redis.hgetall(statsKey), this.redis.hgetall(reasonsKey)]);
    if (!stats.count) return undefined;
    const topReasons = Object.entries(reasons)
      .map(([reason, count]) => ({ reason, count: Number(count) }))
      .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
      .slice(0, top);
    return { count: Number(stats.count), firstJobId: stats.first ?? '', lastJobId: stats.last ?? '', topReasons };
  }

  /**
   * Takes `queue`'s periodic reconciliation for the current interval, once across instances: true
   * for the first caller of the interval (its key set only if absent), false for the others.
   */
  async takeReconcileTick(queue: string, intervalMs: number, holder: string): Promise<boolean> {
    const key = reconcileTickKey(this.prefix, queue, Math.floor(Date.now() / intervalMs));
    return (await this.redis.set(key, holder, 'PX', 2 * intervalMs, 'NX')) === 'OK';
  }

  /** Every job id of `queue`, about `count` a page, whatever state the jobs move to meanwhile (erasure). */
  scanJobIds(queue: Queue, count: number): AsyncGenerator<string[]> {
    return scanJobIds(this.redis, queue, count);
  }

  /** When the earliest delayed job of `queue` is due (ms since the epoch), or null when none is delayed. */
  nextDelayedAt(queue: Queue): Promise<number | null> {
    return nextDelayedAt(this.redis, queue);
  }
}
