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

/** What a definition says makes its job id: one field, or several joined by `.`. */
export interface JobKeySource {
  keyField?: string;
  keyFields?: readonly string[];
}

/**
 * The deterministic job id of a payload, or undefined when its definition has no key (or its
 * optional key field is absent). Each part is checked as {@link buildJobId} checks a key, and every
 * part but the last must not contain `.`, the separator.
 * @throws InvalidJobKeyError naming the offending field.
 */
export function jobIdOf(queue: string, job: string, definition: JobKeySource, payload: Record<string, unknown>): string | undefined {
  if (definition.keyFields) {
    const parts = definition.keyFields.map((field, index) => {
      const value = payload[field];
      const problem = keyProblem(value);
      if (problem !== undefined) throw new InvalidJobKeyError(queue, job, field, problem);
      if (index < definition.keyFields!.length - 1 && (value as string).includes('.')) {
        throw new InvalidJobKeyError(queue, job, field, 'must not contain "." (it separates the parts of the job id key)');
      }
      return value as string;
    });
    return buildJobId(queue, job, parts.join('.'), definition.keyFields.at(-1));
  }
  if (!definition.keyField) return undefined;
  const key = payload[definition.keyField];
  return key === undefined ? undefined : buildJobId(queue, job, key, definition.keyField);
}
