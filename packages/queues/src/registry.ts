import type { Static } from '@sinclair/typebox';
import type { JobsOptions } from 'bullmq';
import { catalog } from './jobs/catalog';
import {
  DEFAULT_JOB_TIMEOUT_MS,
  type EnqueueOptionName,
  type JobDefinition,
  type QueueDefinition,
  type QueueRateLimit,
  longWaitEnv,
} from './jobs/define';
import type { EnqueueOptions } from './schemas/enqueue-options';

/**
 * Every queue and job type, derived from the files of `src/jobs/` (see `scripts/gen-catalog.mjs`):
 * `registry.email.jobs.verify` is the default export of `jobs/email/verify.ts`.
 */
export const registry = catalog;

export type Registry = typeof registry;
export type QueueName = keyof Registry;
export type JobName<Q extends QueueName> = keyof Registry[Q]['jobs'] & string;
/** `email/verify`, … : every job type as one string. */
export type JobType = { [Q in QueueName]: `${Q}/${JobName<Q>}` }[QueueName];
export type QueueOf<T extends JobType> = T extends `${infer Q}/${string}` ? Q & QueueName : never;
export type JobOf<T extends JobType> = T extends `${QueueOf<T>}/${infer J}` ? J & JobName<QueueOf<T>> : never;
export type PayloadOf<Q extends QueueName, J extends JobName<Q>> =
  Registry[Q]['jobs'][J] extends JobDefinition<infer S> ? Static<S> : never;
/** The payload of a job type, e.g. `Payload<'email/verify'>`. */
export type Payload<T extends JobType> = PayloadOf<QueueOf<T>, JobOf<T>>;
/** The per-call options `queue/job` accepts. */
export type OptionsOf<T extends JobType> = Pick<
  EnqueueOptions,
  Registry[QueueOf<T>]['jobs'][JobOf<T>] extends { options: ReadonlyArray<infer O> } ? O & EnqueueOptionName : never
>;
/** The job types whose definition lets app code and the HTTP API enqueue them. */
export type PlatformJobType = {
  [T in JobType]: Registry[QueueOf<T>]['jobs'][JobOf<T>] extends { enqueuedBy: 'platform' } ? T : never;
}[JobType];

export const QUEUE_NAMES = Object.keys(registry) as QueueName[];

export interface JobTypeEntry {
  queue: QueueName;
  job: string;
  /** `queue/job` */
  type: JobType;
  definition: JobDefinition;
}

/** Every job type, queue by queue. */
export const JOB_TYPES: readonly JobTypeEntry[] = QUEUE_NAMES.flatMap((queue) =>
  Object.entries(registry[queue].jobs as Record<string, JobDefinition>).map(([job, definition]) => ({
    queue,
    job,
    type: `${queue}/${job}` as JobType,
    definition,
  })),
);

export function isQueueName(name: string): name is QueueName {
  return Object.prototype.hasOwnProperty.call(registry, name);
}

/** The definition of `queue/job`, or undefined when no job file declares it. */
export function findJobDefinition(queue: string, job: string): JobDefinition | undefined {
  if (!isQueueName(queue)) return undefined;
  const jobs = registry[queue].jobs as Record<string, JobDefinition>;
  return Object.prototype.hasOwnProperty.call(jobs, job) ? jobs[job] : undefined;
}

/** The attempt timeout of `queue/job`: the job's own, else its queue's, else the default. */
export function jobTimeoutMs(queue: QueueName, job: string): number {
  const definition = findJobDefinition(queue, job);
  return definition?.timeoutMs ?? (registry[queue] as QueueDefinition).timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
}

/** The BullMQ options every job of `queue/job` gets: its queue's defaults, then its own retention. */
export function jobOptions(queue: QueueName, job: string): JobsOptions {
  const { retention } = findJobDefinition(queue, job) ?? {};
  const options: JobsOptions = { ...registry[queue].defaultJobOptions };
  if (retention?.completed !== undefined) options.removeOnComplete = retention.completed;
  if (retention?.failed !== undefined) options.removeOnFail = retention.failed;
  return options;
}

/** The longest attempt timeout of any job type: what a graceful stop may have to wait for. */
export const LONGEST_JOB_TIMEOUT_MS = Math.max(...JOB_TYPES.map(({ queue, job }) => jobTimeoutMs(queue, job)));

/** The hashed token tables the job types declare (`tokenStore`): cleaned when expired, erased per user. */
export const TOKEN_STORES: readonly string[] = [
  ...new Set(JOB_TYPES.flatMap(({ definition }) => (definition.tokenStore ? [definition.tokenStore] : []))),
];

/** What the job ledger keeps of a job type: its searchable key field and whether its result. */
export interface LedgerSettings {
  ledgerKey: string | undefined;
  keepResult: boolean;
}

/**
 * Each job type's {@link LedgerSettings}, by `queue/job`. A `ledgerKey` that is one of the type's
 * `personal` fields would put it in clear in PostgreSQL: refused at load.
 */
export const LEDGER_SETTINGS: ReadonlyMap<string, LedgerSettings> = new Map(
  JOB_TYPES.map(({ type, definition }) => {
    const { ledgerKey, keepResult = false, personal = [] } = definition;
    if (ledgerKey !== undefined && (personal as readonly string[]).includes(ledgerKey))
      throw new Error(`${type}: ledgerKey "${ledgerKey}" is a personal field; the ledger keeps it in clear`);
    return [type, { ledgerKey, keepResult }];
  }),
);

/** The job types a cron creates, with their schedule. */
export const SCHEDULED_JOB_TYPES = JOB_TYPES.filter((entry) => entry.definition.schedule !== undefined);

/** The queues with a rate limit, and its variable. */
export const RATE_LIMITED_QUEUES: ReadonlyArray<{ queue: QueueName; rateLimit: QueueRateLimit }> = QUEUE_NAMES.flatMap((queue) => {
  const { rateLimit } = registry[queue] as QueueDefinition;
  return rateLimit ? [{ queue, rateLimit }] : [];
});

/** Every queue's long-wait threshold (`longWaitSeconds` of its queue.ts) and the variable that overrides it. */
export const LONG_WAITS: ReadonlyArray<{ queue: QueueName; seconds: number; env: string }> = QUEUE_NAMES.map((queue) => ({
  queue,
  seconds: (registry[queue] as QueueDefinition).longWaitSeconds,
  env: longWaitEnv(queue),
}));

/** The queue the alerts go to (`carriesAlerts` in its queue.ts): its failed jobs raise no alert. */
export const ALERT_QUEUE: QueueName = (() => {
  const carriers = QUEUE_NAMES.filter((queue) => (registry[queue] as QueueDefinition).carriesAlerts === true);
  if (carriers.length !== 1)
    throw new Error(`exactly one queue.ts must declare carriesAlerts: true; found ${carriers.length} (${carriers.join(', ')})`);
  return carriers[0]!;
})();

/** The queues whose completed jobs must not run again (`retryCompleted: false` in their queue.ts). */
export const NO_COMPLETED_RETRIES: ReadonlySet<QueueName> = new Set(
  QUEUE_NAMES.filter((queue) => (registry[queue] as QueueDefinition).retryCompleted === false),
);

/**
 * BullMQ's limiter for a rate in jobs per second: `max` jobs per `duration` ms. A rate below 1/s
 * becomes one job per longer window, a fractional one above 1/s is kept over a 10 s window.
 */
export function limiterFor(perSecond: number): { max: number; duration: number } {
  if (perSecond < 1) return { max: 1, duration: Math.round(1000 / perSecond) };
  if (Number.isInteger(perSecond)) return { max: perSecond, duration: 1000 };
  return { max: Math.round(perSecond * 10), duration: 10_000 };
}

/**
 * The limits a queue without a rate is read with (`Queue.getRateLimitTtl(max)`: the stall check, a
 * worker reading the pauses in force when it connects): it never limits (10⁹ jobs per second), so
 * a positive TTL is a back-pressure pause (`Queue.rateLimit(ms)` sets the key). Such a queue's
 * Worker has no limiter: the pause reaches it through back-pressure.ts instead.
 */
export const PAUSE_ONLY_LIMITER = { max: 1_000_000_000, duration: 1_000 } as const;

/** BullMQ's limits for a queue's rate (absent: {@link PAUSE_ONLY_LIMITER}, to read a pause). */
export function queueLimiter(perSecond: number | undefined): { max: number; duration: number } {
  return perSecond === undefined ? { ...PAUSE_ONLY_LIMITER } : limiterFor(perSecond);
}
