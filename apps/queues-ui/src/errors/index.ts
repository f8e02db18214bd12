import { HttpError } from '@ceres/http';

export { badRequest, HttpError, queueUnavailable, sendError } from '@ceres/http';

export const unknownQueue = (queue: string, known: readonly string[]) =>
  new HttpError('UNKNOWN_QUEUE', `unknown queue "${queue.slice(0, 100)}"; known queues: ${known.join(', ')}`, { known: [...known] });

export const unknownScheduler = (id: string, known: readonly string[]) =>
  new HttpError('UNKNOWN_SCHEDULER', `unknown job scheduler "${id.slice(0, 200)}"`, { known: [...known] });

/** Two queues hold a scheduler with the same id; the caller must say which one. */
export const ambiguousScheduler = (id: string, queues: readonly string[]) =>
  new HttpError('AMBIGUOUS_SCHEDULER', `job scheduler "${id}" exists in several queues (${queues.join(', ')}); add ?queue=<name>`, {
    queues: [...queues],
  });
