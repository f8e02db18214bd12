import type { Job } from 'bullmq';
import type { Logger } from 'pino';

/**
 * What a processor sees of its job: the fields it may read and the progress it may report.
 * A real BullMQ `Job` satisfies it, and so does a plain object in a unit test.
 */
export type ProcessorJob<Payload> = Pick<Job<Payload>, 'id' | 'name' | 'queueName' | 'data' | 'attemptsMade' | 'updateProgress'>;

/** Dependencies every processor may use; each processor declares the extra ones it needs. */
export interface BaseDeps {
  /** A child logger already bound to `{ queue, job, jobId, attempt }`. */
  logger: Logger;
  /** Aborted when the job outlives its timeout or the worker is shutting down. */
  signal?: AbortSignal;
}

/**
 * A job processor: a plain async function of the job and the dependencies built once at startup.
 * `Deps` lists what it needs beyond {@link BaseDeps}, so tests pass only those.
 */
export type Processor<Payload, Result, Deps extends object = object> = (
  job: ProcessorJob<Payload>,
  deps: BaseDeps & Deps,
) => Promise<Result>;
