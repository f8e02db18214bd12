import { JOB_TYPES } from '@ceres/queues';
import { HttpError } from '@ceres/http';

/** The job types the platform may enqueue: the API offers exactly these. */
export const PLATFORM_JOB_TYPES = JOB_TYPES.filter((type) => type.definition.enqueuedBy === 'platform');

const KNOWN = PLATFORM_JOB_TYPES.map((type) => `${type.queue}/${type.job}`);

/** 404 for a `queue/job` the API does not offer, listing the ones it does. */
export function unknownJobType(queue: string, job: string): HttpError {
  const name = `${queue}/${job}`.slice(0, 200);
  return new HttpError('UNKNOWN_JOB_TYPE', `unknown job type "${name}"; known job types: ${KNOWN.join(', ')}`, {
    known: KNOWN,
  });
}
