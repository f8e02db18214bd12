import type { Static, TSchema } from '@sinclair/typebox';
import type { DefaultJobOptions } from 'bullmq';
import { RETRY_BACKOFF_TYPE, SCHEDULE_ATTEMPTS } from './retry';
import {
  CleanVerificationTokensPayload,
  DailyReportPayload,
  EmailVerifyPayload,
  EmailWelcomePayload,
  OptimizeProfilePicturePayload,
  SlackAlertPayload,
  ValidateCvPayload,
} from './schemas';

/** Per-call options a job type may accept from its producer. */
export type EnqueueOptionName = 'delay' | 'priority';

export interface JobDefinition<S extends TSchema = TSchema> {
  /** The payload schema: producers validate before enqueueing, workers again before processing. */
  schema: S;
  /**
   * The payload field whose value makes the deterministic job id `<queue>:<job>:<value>`.
   * When the field is optional and absent, BullMQ assigns an id and nothing is deduplicated.
   */
  keyField?: string;
  /** `platform`: app code and the HTTP API enqueue it. `scheduler`: only the worker's crons do. */
  enqueuedBy: 'platform' | 'scheduler';
  /** Which per-call options the producer accepts. */
  options: readonly EnqueueOptionName[];
  description: string;
  /** Overrides the queue's {@link QueueDefinition.timeoutMs} for this job type. */
  timeoutMs?: number;
}

export interface QueueDefinition {
  /** How many jobs one worker process runs at once. */
  concurrency: number;
  /** Merged by BullMQ into every job of the queue. */
  defaultJobOptions: DefaultJobOptions;
  /**
   * How long one attempt may run before the worker aborts it and counts it as failed.
   * @defaultValue {@link DEFAULT_JOB_TIMEOUT_MS}
   */
  timeoutMs?: number;
  jobs: Record<string, JobDefinition>;
}

/** The attempt timeout of a queue that declares none. */
export const DEFAULT_JOB_TIMEOUT_MS = 30_000;

const HOUR = 60 * 60;
const DAY = 24 * HOUR;

/** Attempts and backoff of queues that follow the 1 s → 5 s → 15 s → 60 s → 300 s schedule. */
const onSchedule = { attempts: SCHEDULE_ATTEMPTS, backoff: { type: RETRY_BACKOFF_TYPE } } as const;

const job = <S extends TSchema>(
  schema: S,
  rest: Omit<JobDefinition<S>, 'schema' | 'keyField'> & { keyField?: keyof Static<S> & string },
): JobDefinition<S> => ({
  schema,
  ...rest,
});

/**
 * Every queue and job type, declared once. Retention is by age in seconds:
 * - email: completed 1 h, failed 24 h (the platform's rule);
 * - slack: completed 1 h, failed 7 d — a failed alert raises no further alert, so it stays
 *   visible in Bull Board for a week;
 * - maintenance: completed 7 d, failed 30 d — about 25 jobs a day, and their history is the
 *   audit trail of the crons;
 * - files: completed 24 h (status is polled shortly after upload), failed 7 d.
 */
export const registry = {
  email: {
    concurrency: 5,
    timeoutMs: 30_000,
    defaultJobOptions: { ...onSchedule, removeOnComplete: { age: HOUR }, removeOnFail: { age: DAY } },
    jobs: {
      verify: job(EmailVerifyPayload, {
        keyField: 'userId',
        enqueuedBy: 'platform',
        options: ['delay', 'priority'],
        description: 'Send the account verification mail',
      }),
      welcome: job(EmailWelcomePayload, {
        keyField: 'userId',
        enqueuedBy: 'platform',
        options: ['delay', 'priority'],
        description: 'Send the welcome mail after verification',
      }),
    },
  },
  slack: {
    concurrency: 10,
    timeoutMs: 30_000,
    defaultJobOptions: {
      attempts: 3,
      backoff: { type: 'fixed', delay: 2_000 },
      removeOnComplete: { age: HOUR },
      removeOnFail: { age: 7 * DAY },
    },
    jobs: {
      alert: job(SlackAlertPayload, {
        keyField: 'dedupeKey',
        enqueuedBy: 'platform',
        options: ['delay'],
        description: 'Post an alert to the Slack webhook',
      }),
    },
  },
  maintenance: {
    concurrency: 1,
    timeoutMs: 10 * 60_000,
    defaultJobOptions: { ...onSchedule, removeOnComplete: { age: 7 * DAY }, removeOnFail: { age: 30 * DAY } },
    jobs: {
      'clean-verification-tokens': job(CleanVerificationTokensPayload, {
        enqueuedBy: 'scheduler',
        options: [],
        description: 'Delete expired verification tokens (hourly)',
      }),
      'daily-report': job(DailyReportPayload, {
        enqueuedBy: 'scheduler',
        options: [],
        description: 'Report the last 24 h of every queue (daily at 09:00)',
      }),
    },
  },
  files: {
    concurrency: 2,
    timeoutMs: 5 * 60_000,
    defaultJobOptions: { ...onSchedule, removeOnComplete: { age: DAY }, removeOnFail: { age: 7 * DAY } },
    jobs: {
      'validate-cv': job(ValidateCvPayload, {
        keyField: 'fileKey',
        enqueuedBy: 'platform',
        options: ['delay', 'priority'],
        description: 'Check an uploaded CV (PDF or DOCX)',
      }),
      'optimize-profile-picture': job(OptimizeProfilePicturePayload, {
        keyField: 'fileKey',
        enqueuedBy: 'platform',
        options: ['delay', 'priority'],
        description: 'Make a 512×512 WebP of an uploaded profile picture',
      }),
    },
  },
} as const satisfies Record<string, QueueDefinition>;

export type Registry = typeof registry;
export type QueueName = keyof Registry;
export type JobName<Q extends QueueName> = keyof Registry[Q]['jobs'] & string;
export type PayloadOf<Q extends QueueName, J extends JobName<Q>> = Registry[Q]['jobs'][J] extends JobDefinition<
  infer S
>
  ? Static<S>
  : never;

export const QUEUE_NAMES = Object.keys(registry) as QueueName[];

/** Every `queue/job` pair, e.g. `email/verify`. */
export const JOB_TYPES: ReadonlyArray<{ queue: QueueName; job: string; definition: JobDefinition }> =
  QUEUE_NAMES.flatMap((queue) =>
    Object.entries(registry[queue].jobs as unknown as Record<string, JobDefinition>).map(([job, definition]) => ({
      queue,
      job,
      definition,
    })),
  );

export function isQueueName(name: string): name is QueueName {
  return Object.prototype.hasOwnProperty.call(registry, name);
}

/** The definition of `queue/job`, or undefined when the registry does not declare it. */
export function findJobDefinition(queue: string, job: string): JobDefinition | undefined {
  if (!isQueueName(queue)) return undefined;
  const jobs = registry[queue].jobs as unknown as Record<string, JobDefinition>;
  return Object.prototype.hasOwnProperty.call(jobs, job) ? jobs[job] : undefined;
}

/** The attempt timeout of `queue/job`: the job's own, else its queue's, else the default. */
export function jobTimeoutMs(queue: QueueName, job: string): number {
  const definition = findJobDefinition(queue, job);
  return definition?.timeoutMs ?? (registry[queue] as QueueDefinition).timeoutMs ?? DEFAULT_JOB_TIMEOUT_MS;
}

/** The longest attempt timeout of any job type: what a graceful stop may have to wait for. */
export const LONGEST_JOB_TIMEOUT_MS = Math.max(...JOB_TYPES.map(({ queue, job }) => jobTimeoutMs(queue, job)));
