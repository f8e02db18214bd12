import type { JobName, JobType, Payload, PayloadOf, QueueName } from '@ceres/queues';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { WorkerDeps } from '../deps';

/**
 * What a processor sees of its job: the fields it may read and the progress it may report.
 * A real BullMQ `Job` satisfies it, and so does a plain object in a unit test.
 */
export type ProcessorJob<P> = Pick<Job<P>, 'id' | 'name' | 'queueName' | 'data' | 'attemptsMade' | 'timestamp' | 'updateProgress'> &
  Partial<Pick<Job<P>, 'stalledCounter'>>;

/** What belongs to one attempt of a job, as opposed to the deps built once at startup. */
export interface AttemptContext {
  /** A child logger bound to `{ queue, job, jobId, attempt }`. */
  readonly logger: Logger;
  /** Aborted when the attempt outlives its timeout or the worker is shutting down. */
  readonly signal: AbortSignal;
  /** The tenant (municipality) the job is for: what it enqueues next is for the same tenant. */
  readonly tenant: string;
}

/**
 * The processor of job type `T`: a plain async function of the job, the dependencies built once at
 * startup and the attempt's context. `Deps` lists only what it uses, so tests pass only those.
 */
export type Processor<T extends JobType, Result = unknown, Deps extends object = object> = (
  job: ProcessorJob<Payload<T>>,
  deps: Deps,
  ctx: AttemptContext,
) => Promise<Result>;

type ProcessorOf<Q extends QueueName, J extends JobName<Q>> = (
  job: ProcessorJob<PayloadOf<Q, J>>,
  deps: WorkerDeps,
  ctx: AttemptContext,
) => Promise<unknown>;

/** One processor per job type of every queue, each taking what the worker's deps provide. */
export type ProcessorMap = { [Q in QueueName]: { [J in JobName<Q>]: ProcessorOf<Q, J> } };

/** What a runner is given: any queue may miss processors (a queue missing one is not consumed). */
export type PartialProcessorMap = { [Q in QueueName]?: { [J in JobName<Q>]?: ProcessorOf<Q, J> } };
