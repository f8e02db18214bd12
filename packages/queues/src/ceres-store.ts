import type { Queue } from 'bullmq';
import { Cluster } from 'ioredis';
import type { RedisClient } from './connection';
import { breakerStep, readBreakers, type BreakerSettings, type BreakerStep, type BreakerView } from './breakers';
import { readJobTimings, readWaitWindow, type JobTimings, type TimingSeries } from './job-timings';
import { readTenantCounts, type TenantCounts, type TenantOutcome } from './tenant-metrics';
import { nextDelayedAt, scanJobIds } from './writer/bullmq-layout';
import {
  deadLetterDigestKeys,
  ledgerKeys,
  rateSlotKey,
  reconcileTickKey,
  tenantHoldKey,
  tenantRateKey,
  waitDirectPostKey,
  waitEpisodeKey,
} from './writer/ceres-keys';

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

/*
 * KEYS: the tenant's hold in the queue, its rate, the job's reserved start. ARGV: the rate's
 * interval in ms, or '' for none. Answers how long the job must wait (ms; negative: the tenant is
 * held, not its rate), 0 to run now. A job
 * sent back by the rate reserves its start: back at that time, it runs without reserving another.
 */
const TENANT_GATE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('PTTL', KEYS[1])
if held > 0 then return -held end
if ARGV[1] == '' then return 0 end
local reserved = tonumber(redis.call('GET', KEYS[3]))
if reserved then
  if reserved <= now + 5 then
    redis.call('DEL', KEYS[3])
    return 0
  end
  return reserved - now
end
local interval = tonumber(ARGV[1])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[2]) or '0'))
redis.call('SET', KEYS[2], slot + interval, 'PX', math.ceil(slot + interval - now) + 60000)
if slot <= now then return 0 end
redis.call('SET', KEYS[3], slot, 'PX', math.ceil(slot - now) + 3600000)
return slot - now`;
const TENANT_GATE = 'ceresTenantGate';

/*
 * One step of a queue's long-wait/stall episode (long-wait detector of queues-ui), made once
 * whichever instance observes first: every detector calls it each tick with what it saw, and only
 * the hash in Redis decides. KEYS: the episode hash. ARGV: now, waiting long (1/0), stalled (1/0),
 * how long both must stay clear before the episode ends (ms), the oldest wait (ms), the jobs due,
 * the alert's text (kept from the opening call). An episode opens with `alertPending`; it ends once
 * clear for the hold, with `end` (when it cleared) and `recoveryPending`; the hash goes when the
 * recovery is sent (WAIT_EPISODE_ACK). Answers the hash's fields.
 */
const WAIT_EPISODE_SCRIPT = `
local key = KEYS[1]
local now = tonumber(ARGV[1])
local long = ARGV[2] == '1'
local stalled = ARGV[3] == '1'
local waitMs = tonumber(ARGV[5])
if not redis.call('HGET', key, 'start') then
  if long or stalled then
    redis.call('HSET', key, 'start', ARGV[1], 'long', ARGV[2], 'stalled', ARGV[3], 'everLong', ARGV[2], 'everStalled', ARGV[3],
      'waitMs', ARGV[5], 'due', ARGV[6], 'peakMs', ARGV[5], 'text', ARGV[7], 'alertPending', '1')
  end
elseif not redis.call('HGET', key, 'end') then
  if long or stalled then
    redis.call('HSET', key, 'long', ARGV[2], 'stalled', ARGV[3])
    redis.call('HDEL', key, 'clearSince')
    if long then redis.call('HSET', key, 'everLong', '1') end
    if stalled then redis.call('HSET', key, 'everStalled', '1') end
    if waitMs > tonumber(redis.call('HGET', key, 'peakMs') or '0') then redis.call('HSET', key, 'peakMs', ARGV[5]) end
  else
    redis.call('HSET', key, 'long', '0', 'stalled', '0')
    local clear = tonumber(redis.call('HGET', key, 'clearSince'))
    if not clear then
      clear = now
      redis.call('HSET', key, 'clearSince', ARGV[1])
    end
    if now - clear >= tonumber(ARGV[4]) then redis.call('HSET', key, 'end', clear, 'recoveryPending', '1') end
  end
end
return redis.call('HGETALL', key)`;
const WAIT_EPISODE = 'ceresWaitEpisode';

/* The alert (ARGV[2] 'alert') or the recovery ('recovery') of the episode that started at ARGV[1] is enqueued. */
const WAIT_EPISODE_ACK_SCRIPT = `
if redis.call('HGET', KEYS[1], 'start') ~= ARGV[1] then return 0 end
if ARGV[2] == 'alert' then return redis.call('HDEL', KEYS[1], 'alertPending') end
if redis.call('HGET', KEYS[1], 'end') then return redis.call('DEL', KEYS[1]) end
return 0`;
const WAIT_EPISODE_ACK = 'ceresWaitEpisodeAck';

/** What one detector saw of a queue at one tick. */
export interface WaitObservation {
  now: number;
  longWait: boolean;
  stalled: boolean;
  /** How long both must stay false before the episode ends. */
  recoverAfterMs: number;
  oldestWaitingMs: number;
  due: number;
  /** The alert's text, kept when this observation opens an episode. */
  text: string;
}

/** A queue's episode as Redis holds it (see WAIT_EPISODE_SCRIPT). */
export interface WaitEpisode {
  start: number;
  /** When it cleared, once it ended. */
  end: number | null;
  /** What holds now. */
  longWait: boolean;
  stalled: boolean;
  /** What held at any time in the episode. */
  everLongWait: boolean;
  everStalled: boolean;
  /** The oldest wait and the jobs due when it opened, and the longest wait seen in it. */
  waitMs: number;
  due: number;
  peakMs: number;
  text: string;
  alertPending: boolean;
  recoveryPending: boolean;
}

function episodeOf(flat: string[]): WaitEpisode | null {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i]!, flat[i + 1]!);
  if (!fields.has('start')) return null;
  const num = (name: string) => Number(fields.get(name) ?? 0);
  return {
    start: num('start'),
    end: fields.has('end') ? num('end') : null,
    longWait: fields.get('long') === '1',
    stalled: fields.get('stalled') === '1',
    everLongWait: fields.get('everLong') === '1',
    everStalled: fields.get('everStalled') === '1',
    waitMs: num('waitMs'),
    due: num('due'),
    peakMs: num('peakMs'),
    text: fields.get('text') ?? '',
    alertPending: fields.get('alertPending') === '1',
    recoveryPending: fields.get('recoveryPending') === '1',
  };
}

/*
 * The job ledger's bounded list (ledgerKeys). Push — KEYS: batches, state; ARGV: the batch, its
 * rows, the bound in rows. Answers the rows now pending, or -1 when the batch would pass the
 * bound: then it is not stored and its rows are counted in `dropped`.
 */
const LEDGER_PUSH_SCRIPT = `
local pending = tonumber(redis.call('HGET', KEYS[2], 'rows') or '0')
local rows = tonumber(ARGV[2])
if pending + rows > tonumber(ARGV[3]) then
  redis.call('HINCRBY', KEYS[2], 'dropped', rows)
  return -1
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'rows', rows)
return pending + rows`;
const LEDGER_PUSH = 'ceresLedgerPush';

/*
 * Take — KEYS: batches, lock; ARGV: holder, lock ms, batches wanted. Nothing pending, or the lock
 * another holder's: nothing. Else the lock is (re)taken for ARGV[2] ms and the first batches read.
 */
const LEDGER_TAKE_SCRIPT = `
if redis.call('LLEN', KEYS[1]) == 0 then return {} end
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] then return {} end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)`;

/*
 * Remove — KEYS: batches, state, lock; ARGV: holder, batches. Only while the lock is still the
 * holder's (else another drainer took over and wrote, or will write, the same batches). Each batch
 * starts with its row count and a newline: the pending count goes down by what was pushed, even
 * for a batch the drainer could not read.
 */
const LEDGER_REMOVE_SCRIPT = `
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return 0 end
local rows = 0
for _, batch in ipairs(redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  rows = rows + (tonumber(string.match(batch, '^(%d+)\\n')) or 0)
end
redis.call('LTRIM', KEYS[1], tonumber(ARGV[2]), -1)
redis.call('HINCRBY', KEYS[2], 'rows', -rows)
return 1`;

const LEDGER_RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** The ledger's waiting rows in Redis. */
export interface LedgerBacklog {
  batches: number;
  rows: number;
  /** Rows refused at the bound since the state began. */
  dropped: number;
}

/**
 * Ceres's own Redis state, each use a named operation (the keys are in writer/ceres-keys.ts):
 * the dead-letter digest's per-minute counts, shared by every worker process (beyond
 * `DEAD_LETTER_DIGEST_AFTER` dead letters in a minute one digest replaces the single alerts), the
 * once-across-instances reconciliation tick, a queue's next due delayed job, its job ids, and the
 * tenants' holds and rates in each queue, the circuit breakers of the external dependencies.
 */
export class CeresStore {
  private readonly cluster: boolean;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    this.cluster = redis instanceof Cluster;
  }

  /**
   * How long a tenant's job must wait before it starts in `queue` (0: now; see TENANT_GATE_SCRIPT):
   * held by its relay's back-pressure (`held`), or by its rate (`intervalMs` between two starts
   * across every worker process; the job reserves its start).
   */
  async tenantWait(
    queue: Pick<Queue, 'toKey'>,
    tenant: string,
    jobId: string,
    intervalMs: number | undefined,
  ): Promise<{ ms: number; held: boolean }> {
    if (!(TENANT_GATE in this.redis)) this.redis.defineCommand(TENANT_GATE, { numberOfKeys: 3, lua: TENANT_GATE_SCRIPT });
    const wait = await (this.redis as unknown as Record<typeof TENANT_GATE, (...args: string[]) => Promise<number>>)[TENANT_GATE](
      tenantHoldKey(queue, tenant),
      tenantRateKey(queue, tenant),
      rateSlotKey(queue, jobId),
      intervalMs === undefined ? '' : String(intervalMs),
    );
    return { ms: Math.abs(wait), held: wait < 0 };
  }

  /** Holds `tenant` in `queue` for `ms` in every worker process (its own relay throttled it). */
  async holdTenant(queue: Pick<Queue, 'toKey'>, tenant: string, ms: number): Promise<void> {
    await this.redis.set(tenantHoldKey(queue, tenant), '1', 'PX', ms);
  }

  /**
   * Counts one dead letter in its queue's minute; idempotent per job id within the minute (the
   * same rank again, so a retried recording makes the same alert-or-digest decision).
   */
  async countDeadLetter(dead: { queue: string; jobId: string; reason: string }, now = Date.now()): Promise<DeadLetterCount> {
    const minute = Math.floor(now / 60_000);
    const keys = deadLetterDigestKeys(this.prefix, dead.queue, minute, this.cluster);
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
    const [, statsKey, reasonsKey] = deadLetterDigestKeys(this.prefix, queue, minute, this.cluster);
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

  /** Adds a worker's pending per-tenant completed/failed counts to Redis (tenant-metrics.ts). */
  flushTenantCounts(counts: TenantCounts): Promise<void> {
    return counts.flush(this.redis);
  }

  /** The jobs of `queue` completed or failed for good per tenant, as the workers counted them. */
  tenantCounts(queue: Queue, outcome: TenantOutcome): Promise<Map<string, number>> {
    return readTenantCounts(this.redis, queue, outcome);
  }

  /** One step of `queue`'s long-wait/stall episode, once across every detector (WAIT_EPISODE_SCRIPT); null when none is open. */
  async observeWait(queue: Pick<Queue, 'toKey'>, seen: WaitObservation): Promise<WaitEpisode | null> {
    if (!(WAIT_EPISODE in this.redis)) this.redis.defineCommand(WAIT_EPISODE, { numberOfKeys: 1, lua: WAIT_EPISODE_SCRIPT });
    const flat = await (this.redis as unknown as Record<typeof WAIT_EPISODE, (...args: Array<string | number>) => Promise<string[]>>)[
      WAIT_EPISODE
    ](
      waitEpisodeKey(queue),
      seen.now,
      seen.longWait ? 1 : 0,
      seen.stalled ? 1 : 0,
      seen.recoverAfterMs,
      Math.round(seen.oldestWaitingMs),
      seen.due,
      seen.text,
    );
    return episodeOf(flat);
  }

  /** Records that the episode's alert or recovery is enqueued; the recovery ends the episode's record. */
  async ackWaitEpisode(queue: Pick<Queue, 'toKey'>, start: number, sent: 'alert' | 'recovery'): Promise<void> {
    if (!(WAIT_EPISODE_ACK in this.redis)) this.redis.defineCommand(WAIT_EPISODE_ACK, { numberOfKeys: 1, lua: WAIT_EPISODE_ACK_SCRIPT });
    await (this.redis as unknown as Record<typeof WAIT_EPISODE_ACK, (...args: Array<string | number>) => Promise<number>>)[
      WAIT_EPISODE_ACK
    ](waitEpisodeKey(queue), String(start), sent);
  }

  /** Claims, for `ms`, the posting of an episode's message by this instance alone (see waitDirectPostKey); false when another holds it. */
  async claimDirectPost(queue: Pick<Queue, 'toKey'>, key: string, ms: number): Promise<boolean> {
    return (await this.redis.set(waitDirectPostKey(queue, key), '1', 'PX', ms, 'NX')) === 'OK';
  }

  /** `queue`'s episode without changing it (the metrics), or null. */
  async waitEpisode(queue: Pick<Queue, 'toKey'>): Promise<WaitEpisode | null> {
    const fields = await this.redis.hgetall(waitEpisodeKey(queue));
    return episodeOf(Object.entries(fields).flat());
  }

  /** Adds a worker's pending job timings to Redis (job-timings.ts). */
  flushJobTimings(timings: JobTimings): Promise<void> {
    return timings.flush(this.redis);
  }

  /** Every wait and run time series of `queue` since they began, as the workers counted them. */
  jobTimings(queue: Queue): Promise<TimingSeries[]> {
    return readJobTimings(this.redis, queue);
  }

  /** The wait histogram of `queue` over the minutes or hours `from`..`to` since the epoch (job-timings.ts). */
  waitWindow(queue: Queue, unit: 'minute' | 'hour', from: number, to: number): Promise<number[]> {
    return readWaitWindow(this.redis, queue, unit, from, to);
  }

  /** Redis's `used_memory` (INFO memory), in bytes; on a cluster, the masters' added up. */
  async memoryUsed(): Promise<number> {
    const nodes = this.redis instanceof Cluster ? this.redis.nodes('master') : [this.redis];
    const used = await Promise.all(
      nodes.map(async (node) => {
        const match = /^used_memory:(\d+)\r?$/m.exec(await node.info('memory'));
        if (!match) throw new Error('INFO memory has no used_memory line');
        return Number(match[1]);
      }),
    );
    return used.reduce((sum, bytes) => sum + bytes, 0);
  }

  /**
   * Appends one batch of ledger rows (`rows` of them; stored as `<rows>\n<batch>`) to the bounded
   * list, in one script call: false when it would pass `maxRows` (the batch is dropped and counted).
   */
  async pushLedgerBatch(batch: string, rows: number, maxRows: number): Promise<boolean> {
    if (!(LEDGER_PUSH in this.redis)) this.redis.defineCommand(LEDGER_PUSH, { numberOfKeys: 2, lua: LEDGER_PUSH_SCRIPT });
    const keys = ledgerKeys(this.prefix, this.cluster);
    const answer = await (this.redis as unknown as Record<typeof LEDGER_PUSH, (...args: Array<string | number>) => Promise<number>>)[
      LEDGER_PUSH
    ](keys.batches, keys.state, `${rows}\n${batch}`, rows, maxRows);
    return answer >= 0;
  }

  /**
   * The first `count` batches for `holder` to write (as pushed, without their row count), taking
   * (or renewing) the drain lock for `lockMs`; empty when nothing waits or another process holds it.
   */
  async takeLedgerBatches(holder: string, lockMs: number, count: number): Promise<string[]> {
    const keys = ledgerKeys(this.prefix, this.cluster);
    const batches = (await this.redis.eval(LEDGER_TAKE_SCRIPT, 2, keys.batches, keys.lock, holder, lockMs, count)) as string[];
    return batches.map((batch) => batch.slice(batch.indexOf('\n') + 1));
  }

  /** Removes the first `batches` batches once written; false when the lock is no longer `holder`'s. */
  async removeLedgerBatches(holder: string, batches: number): Promise<boolean> {
    const keys = ledgerKeys(this.prefix, this.cluster);
    return (await this.redis.eval(LEDGER_REMOVE_SCRIPT, 3, keys.batches, keys.state, keys.lock, holder, batches)) === 1;
  }

  /** Gives the drain lock back when `holder` has it. */
  async releaseLedgerLock(holder: string): Promise<void> {
    await this.redis.eval(LEDGER_RELEASE_SCRIPT, 1, ledgerKeys(this.prefix, this.cluster).lock, holder);
  }

  /** What waits in the ledger's list, and what its bound refused. */
  async ledgerBacklog(): Promise<LedgerBacklog> {
    const keys = ledgerKeys(this.prefix, this.cluster);
    const [batches, state] = await Promise.all([this.redis.llen(keys.batches), this.redis.hgetall(keys.state)]);
    return { batches, rows: Number(state.rows ?? 0), dropped: Number(state.dropped ?? 0) };
  }

  /** When the earliest delayed job of `queue` is due (ms since the epoch), or null when none is delayed. */
  nextDelayedAt(queue: Queue): Promise<number | null> {
    return nextDelayedAt(this.redis, queue);
  }

  /** One step of a dependency's circuit breaker, atomically across every worker process (breakers.ts). */
  breakerStep(
    step: 'fail' | 'reset' | 'probe' | 'reached',
    dependency: string,
    settings: BreakerSettings,
    jobId = '',
  ): Promise<BreakerStep> {
    return breakerStep(this.redis, this.prefix, step, dependency, settings, jobId);
  }

  /** Every circuit breaker that ever counted a failure. */
  breakers(): Promise<BreakerView[]> {
    return readBreakers(this.redis, this.prefix);
  }
}
