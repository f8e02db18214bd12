import type { Queue } from 'bullmq';

/*
 * Every Redis key and channel Ceres itself owns (BullMQ's own keys are read in bullmq-layout.ts).
 * `prefix` is `REDIS_PREFIX` (`ceres:` by default); a key inside a queue's namespace is built from
 * the queue, so it follows the queue's hash tag on a cluster (config.ts, queuePrefix). Keys one
 * script uses together carry one hash tag on a cluster (`cluster`: true); on one Redis they keep
 * the names they always had, so an upgrade finds its data.
 */

/** Claims `jobId` while its enqueue is decided and added; BullMQ never uses a key of this shape. */
export function claimKey(queue: Queue, jobId: string): string {
  return queue.toKey(`ceres-claim:${jobId}`);
}

/** A queue's fair shares: the last fair position given to each tenant (bullmq-layout.ts, FAIR_LUA). */
export function fairKey(queue: Queue): string {
  return queue.toKey('ceres-fair');
}

/**
 * The dead-letter digest's three hashes of one queue and minute: ranks by job id, stats, reasons
 * (one script updates the three: on a cluster they carry the queue's hash tag, so one slot).
 */
export function deadLetterDigestKeys(
  prefix: string,
  queue: string,
  minute: number,
  cluster = false,
): [ranks: string, stats: string, reasons: string] {
  const base = `${prefix}dead-letters:digest:${cluster ? `{${queue}}` : queue}:${minute}`;
  return [`${base}:ranks`, `${base}:stats`, `${base}:reasons`];
}

/** Taken by the one worker instance that runs a queue's periodic dead-letter reconciliation in interval `tick`. */
export function reconcileTickKey(prefix: string, queue: string, tick: number): string {
  return `${prefix}dead-letters:reconcile:${queue}:${tick}`;
}

/** Where a back-pressure pause is announced to every worker process (back-pressure.ts). */
export function pauseChannel(prefix: string): string {
  return `${prefix}back-pressure`;
}

/** A tenant held in one queue by its own relay's back-pressure (a key with the pause's TTL). */
export function tenantHoldKey(queue: Pick<Queue, 'toKey'>, tenant: string): string {
  return queue.toKey(`ceres-tenant-hold:${tenant}`);
}

/** When a tenant's next job may start in one queue, by its rate (ms since the epoch, Redis clock). */
export function tenantRateKey(queue: Pick<Queue, 'toKey'>, tenant: string): string {
  return queue.toKey(`ceres-tenant-rate:${tenant}`);
}

/** The start a job delayed by its tenant's rate reserved (so that it does not reserve another when it is back). */
export function rateSlotKey(queue: Pick<Queue, 'toKey'>, jobId: string): string {
  return queue.toKey(`ceres-rate-slot:${jobId}`);
}

/** A queue's long-wait/stall episode, open or with its alerts still to send (ceres-store.ts, WAIT_EPISODE_SCRIPT). */
export function waitEpisodeKey(queue: Pick<Queue, 'toKey'>): string {
  return queue.toKey('ceres-wait-episode');
}

/** Held by the one queues-ui instance posting an episode's alert or recovery itself (no Slack worker): `key` is its alert key. */
export function waitDirectPostKey(queue: Pick<Queue, 'toKey'>, key: string): string {
  return queue.toKey(`ceres-wait-direct:${key}`);
}

/** A queue's job timings since they began: `<kind>|<job>|<tenant>|<bucket or sum>` → count or ms (job-timings.ts). */
export function jobTimingsKey(queue: Pick<Queue, 'toKey'>): string {
  return queue.toKey('ceres-timings');
}

/** The wait histogram of one queue and minute, or hour, since the epoch: bucket → jobs started (job-timings.ts). */
export function waitWindowKey(queue: Pick<Queue, 'toKey'>, unit: 'minute' | 'hour', index: number): string {
  return queue.toKey(`ceres-wait:${unit}:${index}`);
}

/**
 * The circuit breakers of the worker's external dependencies (the SMTP relays, the Slack
 * webhooks): one hash, a field per dependency (breakers.ts), so every script touches one key.
 */
export function breakersKey(prefix: string): string {
  return `${prefix}breakers`;
}

/** Where a breaker's transitions are announced to every worker process (breakers.ts). */
export function breakerChannel(prefix: string): string {
  return `${prefix}breaker-transitions`;
}

/**
 * The job ledger's waiting rows (apps/worker/src/ledger.ts): a list of batches pushed by every
 * worker process, its state (`rows` pending, `dropped` at the bound), and the drainer's lock.
 */
export function ledgerKeys(prefix: string, cluster = false): { batches: string; state: string; lock: string } {
  const base = cluster ? `${prefix}{ledger}` : `${prefix}ledger`;
  return { batches: `${base}:batches`, state: `${base}:state`, lock: `${base}:drain-lock` };
}
