import type { Static, TObject } from '@sinclair/typebox';
import type { DefaultJobOptions, KeepJobs } from 'bullmq';

/** Per-call options a job type may accept from its producer. */
export type EnqueueOptionName = 'delay' | 'priority';

/**
 * When an enqueue with the id of an existing job is a duplicate (nothing new is enqueued):
 * - `pending`: only while that job is waiting, delayed, prioritized or active; once it finished,
 *   the new enqueue replaces it under the same id and runs;
 * - `pending-or-same-payload`: as `pending`, and also while the finished job is kept and had the
 *   same payload;
 * - `retention`: as long as the job is kept at all, finished or not.
 */
export type DuplicateWindow = 'pending' | 'pending-or-same-payload' | 'retention';

/** Who may enqueue a job type: `platform` (app code and the HTTP API) or only the `worker` itself. */
export type EnqueuedBy = 'platform' | 'worker';

/** A cron schedule: the worker upserts one BullMQ job scheduler per scheduled job type. */
export interface JobSchedule {
  /** Cron pattern (5 fields, or 6 with seconds first), in the worker's `TZ`. */
  pattern: string;
  /** The environment variable that overrides {@link JobSchedule.pattern}. */
  env: string;
}

/** Everything about one job type; the file `jobs/<queue>/<job>.ts` exports it as default. */
export interface JobDefinition<S extends TObject = TObject> {
  description: string;
  /** The payload schema: producers validate before enqueueing, workers again before processing. */
  schema: S;
  /** A valid payload: the OpenAPI example and the tests' fixture. */
  example: Static<S>;
  /**
   * The payload field whose value makes the deterministic job id `<queue>:<job>:<value>`.
   * When absent (or optional and not given), BullMQ assigns an id and nothing is deduplicated.
   */
  keyField?: keyof Static<S> & string;
  /**
   * Instead of {@link JobDefinition.keyField}, when one field does not identify the job: the job id
   * key is these fields' values joined by `.` (`newsletter:send:<campaignId>.<userId>`). Every part
   * but the last must be free of `.`, so two payloads never share a key.
   */
  keyFields?: readonly [keyof Static<S> & string, ...(keyof Static<S> & string)[]];
  /**
   * The payload field the job ledger (PostgreSQL `job_ledger`) keeps as the job's searchable key:
   * `userId`, `campaignId`. A plain string field, never a {@link JobDefinition.personal} one (a
   * registry check enforces it). Absent: the ledger rows of this type have no key.
   */
  ledgerKey?: keyof Static<S> & string;
  /**
   * Whether the ledger keeps what the processor returned (its `result` column). Only for results
   * free of personal data: ids, counts, outcomes. @defaultValue false
   */
  keepResult?: boolean;
  /** @defaultValue `retention` */
  duplicates: DuplicateWindow;
  enqueuedBy: EnqueuedBy;
  /** Which per-call options the producer accepts. */
  options: readonly EnqueueOptionName[];
  /** Overrides the queue's {@link QueueDefinition.timeoutMs} for this job type. */
  timeoutMs?: number;
  /** Overrides the queue's retention for this job type (BullMQ's `removeOnComplete`/`removeOnFail`). */
  retention?: { completed?: KeepJobs; failed?: KeepJobs };
  /**
   * Key prefixes the worker uses for its own jobs of this type: a producer taking one first would
   * suppress the worker's job (same deterministic id), so only a client built with
   * `allowReservedKeys` (the worker's) may enqueue them.
   */
  reservedKeyPrefixes?: readonly string[];
  /** Only for `enqueuedBy: 'worker'` job types that a cron creates. */
  schedule?: JobSchedule;
  /**
   * The payload's personal fields (string fields: addresses, names, tokens). Producers encrypt them
   * with `JOBS_ENCRYPTION_KEYS` before the job reaches Redis; the worker decrypts them just before
   * the processor runs; Bull Board shows them masked. Never the key field: job ids and erasure
   * match on it.
   */
  personal?: ReadonlyArray<keyof Static<S> & string>;
  /**
   * The PostgreSQL table of the tokens this job type's mails carry, stored hashed (`@ceres/db`'s
   * `db.hashedTokens(table)`; its migration creates the table). Derived from it: the hourly
   * `maintenance/clean-verification-tokens` deletes its expired rows, erasure deletes the user's.
   */
  tokenStore?: string;
}

/** A queue's settings; the file `jobs/<queue>/queue.ts` exports it as default. */
export interface QueueDefinition {
  description: string;
  /** How many jobs one worker process runs at once. */
  concurrency: number;
  /** Merged by BullMQ into every job of the queue (attempts, backoff, retention). */
  defaultJobOptions: DefaultJobOptions;
  /**
   * How long one attempt may run before the worker aborts it and counts it as failed.
   * @defaultValue {@link DEFAULT_JOB_TIMEOUT_MS}
   */
  timeoutMs?: number;
  /**
   * A rate that holds across every worker process (BullMQ's queue-wide `limiter`), set by the
   * worker's variable `env`.
   */
  rateLimit?: QueueRateLimit;
  /**
   * The queue the platform's alerts go to (the worker's dead-letter alerts): a failed job of it
   * raises no alert, which would be another job of the same queue. Exactly one queue says so.
   */
  carriesAlerts?: true;
  /**
   * Whether a completed job may be run again (Bull Board's Retry on the Completed tab, and its
   * API): `false` where running one again repeats its effect, e.g. sends its mail again.
   * @defaultValue true
   */
  retryCompleted?: boolean;
  /**
   * How long the oldest due job may wait before the queue is "waiting long" (one Slack alert, and
   * one when it recovers), and how long no job may start while jobs are due before it is "stalled"
   * (queues-ui's long-wait detector). Overridden by queues-ui's `<QUEUE>_LONG_WAIT_SECONDS`.
   */
  longWaitSeconds: number;
}

/** The worker's variable for a queue's rate, in jobs started per second. */
export interface QueueRateLimit {
  /** The environment variable, e.g. `EMAIL_RATE_PER_SECOND`. */
  env: string;
  /** @defaultValue no limit when absent */
  perSecond?: number;
  /** What the rate protects, for the env tables. */
  description: string;
}

/** The variable that overrides a queue's {@link QueueDefinition.longWaitSeconds}: `EMAIL_LONG_WAIT_SECONDS`, … */
export const longWaitEnv = (queue: string): string => `${queue.toUpperCase()}_LONG_WAIT_SECONDS`;

/** The attempt timeout of a queue that declares none. */
export const DEFAULT_JOB_TIMEOUT_MS = 30_000;

type JobInput<S extends TObject> = Omit<JobDefinition<S>, 'duplicates' | 'options'> &
  Partial<Pick<JobDefinition<S>, 'duplicates' | 'options'>>;

/**
 * Declares a job type. The payload type is inferred from `schema`; who enqueues it and the options
 * it accepts keep their literal types, so producers accept exactly those.
 */
export function defineJob<const S extends TObject, const E extends EnqueuedBy, const O extends readonly EnqueueOptionName[] = readonly []>(
  definition: JobInput<S> & { enqueuedBy: E; options?: O },
): JobDefinition<S> & { enqueuedBy: E; options: O } {
  return { duplicates: 'retention', options: [] as unknown as O, ...definition };
}

/** Declares a queue. */
export function defineQueue<const Q extends QueueDefinition>(definition: Q): Q {
  return definition;
}

export const HOUR_S = 60 * 60;
export const DAY_S = 24 * HOUR_S;
