import { InvalidJobKeyError } from './errors/invalid-job-key-error';

/** BullMQ only accepts a custom id with `:` when it has exactly three parts. */
export const MAX_JOB_KEY_LENGTH = 512;

/**
 * The deterministic id `<queue>:<job>:<key>`: the same business key always gives the same id, so
 * BullMQ stores the job once however often it is enqueued.
 * @throws InvalidJobKeyError when the key is empty, has `:`, control characters or is too long.
 */
export function buildJobId(queue: string, job: string, key: unknown, field?: string): string {
  const problem = keyProblem(key);
  if (problem !== undefined) throw new InvalidJobKeyError(queue, job, field, problem);
  return `${queue}:${job}:${key as string}`;
}

/** Why `key` cannot be the last part of a job id, or undefined when it can. */
function keyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string') return `must be a string to build a job id, got ${typeof key}`;
  if (key.trim() === '') return 'must not be empty or blank to build a job id';
  if (key.includes(':')) return 'must not contain ":" (BullMQ accepts ids of exactly three ":"-separated parts)';
  if (key.length > MAX_JOB_KEY_LENGTH) return `must be at most ${MAX_JOB_KEY_LENGTH} characters to build a job id`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'must not contain control characters';
  return undefined;
}
