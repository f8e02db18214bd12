import { registry, type QueueName } from '@ceres/queues';
import { processors } from './catalog';
import type { AttemptContext, ProcessorJob, ProcessorMap } from './types';

/**
 * The worker's processors with every job type of `queue` handled by `processor` (the bench's and
 * the tests' no-op processors). The job types come from the catalog, so a job type added to the
 * queue is covered too: a map written by hand would miss it, and the runner would then not consume
 * the queue at all.
 */
export function replaceQueueProcessors(
  queue: QueueName,
  processor: (job: ProcessorJob<never>, deps: never, ctx: AttemptContext) => Promise<unknown>,
): ProcessorMap {
  const replaced = Object.fromEntries(Object.keys(registry[queue].jobs).map((job) => [job, processor]));
  return { ...processors, [queue]: replaced } as ProcessorMap;
}
