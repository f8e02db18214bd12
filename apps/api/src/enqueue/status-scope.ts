import { PLATFORM_JOB_TYPES } from './platform-job-types';

const platformJobs = new Map<string, Set<string>>();
for (const { queue, job } of PLATFORM_JOB_TYPES) {
  if (!platformJobs.has(queue)) platformJobs.set(queue, new Set());
  platformJobs.get(queue)!.add(job);
}

/** A job the API could have enqueued: a platform job type of `queue`. */
export function isPlatformJob(queue: string, job: string): boolean {
  return platformJobs.get(queue)?.has(job) === true;
}

/**
 * Whether `jobId` has the shape of an id the API hands out for `queue`: the deterministic
 * `<queue>:<job>:<key>` of a platform job type, or BullMQ's own counter (a job enqueued without a
 * key). Anything else (`meta`, `events`, `stalled-check`, `repeat:…`, `metrics:completed`) would
 * read one of BullMQ's own keys, and a queue without platform job types (maintenance) has none.
 */
export function isApiJobId(queue: string, jobId: string): boolean {
  if (!platformJobs.has(queue)) return false;
  if (/^[1-9][0-9]{0,15}$/.test(jobId)) return true;
  const parts = jobId.split(':');
  return parts.length === 3 && parts[0] === queue && isPlatformJob(queue, parts[1]!) && parts[2] !== '';
}
