import type { Redis } from 'ioredis';
import { redactEmails } from './redact';
import { escapeSlack } from './slack-escape';

/**
 * Counting dead letters per queue and minute, shared by every worker process through Redis, so
 * that beyond `DEAD_LETTER_DIGEST_AFTER` of them one digest replaces the single alerts.
 *
 * Keys, under the configured prefix: `<prefix>dead-letters:digest:<queue>:<minute>:ranks` (job id →
 * its rank in the minute, so recording a job again gives the same rank and the same decision),
 * `…:stats` (count, first and last job id) and `…:reasons` (reason → count). The minute is the one
 * the dead letter was first recorded in.
 */

/** Where the first recording of a dead letter falls, and its place among the minute's. */
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
/** A reason is stored this long at most (already without e-mail addresses). */
const REASON_LENGTH = 200;

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

export const digestBucket = (queue: string, minute: number) => `${queue}.${minute}`;

export function parseDigestBucket(bucket: string): { queue: string; minute: number } {
  const dot = bucket.lastIndexOf('.');
  return { queue: bucket.slice(0, dot), minute: Number(bucket.slice(dot + 1)) };
}

function keys(prefix: string, queue: string, minute: number): [string, string, string] {
  const base = `${prefix}dead-letters:digest:${queue}:${minute}`;
  return [`${base}:ranks`, `${base}:stats`, `${base}:reasons`];
}

/** The reason as the digest shows it: without e-mail addresses, bounded. */
export function digestReason(failedReason: string | undefined): string {
  return redactEmails(failedReason || 'unknown reason').replace(/\s+/g, ' ').slice(0, REASON_LENGTH);
}

/** Counts one dead letter (idempotent per job id within its minute). */
export async function countDeadLetter(
  redis: Redis,
  prefix: string,
  dead: { queue: string; jobId: string; reason: string },
  now = Date.now(),
): Promise<DeadLetterCount> {
  const minute = Math.floor(now / 60_000);
  const rank = (await redis.eval(COUNT_SCRIPT, 3, ...keys(prefix, dead.queue, minute), dead.jobId, dead.reason, RANKS_TTL_MS, STATS_TTL_MS, MAX_REASONS, OTHER_REASONS)) as number;
  return { minute, rank };
}

/** The figures of one queue's minute, or `undefined` when they are gone (expired). */
export async function readDigest(redis: Redis, prefix: string, queue: string, minute: number, top = 3): Promise<DigestFigures | undefined> {
  const [, statsKey, reasonsKey] = keys(prefix, queue, minute);
  const [stats, reasons] = await Promise.all([redis.hgetall(statsKey), redis.hgetall(reasonsKey)]);
  if (!stats.count) return undefined;
  const topReasons = Object.entries(reasons)
    .map(([reason, count]) => ({ reason, count: Number(count) }))
    .sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason))
    .slice(0, top);
  return { count: Number(stats.count), firstJobId: stats.first ?? '', lastJobId: stats.last ?? '', topReasons };
}

const figure = (n: number) => n.toLocaleString('en-US');
const utc = (minute: number) => new Date(minute * 60_000).toISOString().slice(11, 16);

/** The digest's Slack text; ids and reasons are Slack-escaped, reasons hold no e-mail addresses. */
export function digestText(queue: string, minute: number, figures: DigestFigures, singles: number): string {
  const reasons = figures.topReasons.map(({ reason, count }) => `${figure(count)}× ${escapeSlack(reason)}`).join('; ');
  return [
    `${figure(figures.count)} jobs of *${escapeSlack(queue)}* failed for good in the last minute (${utc(minute)}–${utc(minute + 1)} UTC); top reasons: ${reasons}`,
    `First job id \`${escapeSlack(figures.firstJobId)}\`, last \`${escapeSlack(figures.lastJobId)}\`. The first ${figure(Math.min(singles, figures.count))} were alerted one by one; every one is in failed_jobs (\`ceres-jobs failed list\`).`,
  ].join('\n');
}
