import type { FieldIssue } from './errors/payload-validation-error';

/**
 * Job keys the worker uses for its own jobs, per `queue/job`: the daily report's alert
 * (`daily-report-<date>`) and the dead-letter alerts (`dead-<queue>-…`). A producer taking one
 * first would suppress the real alert (same deterministic job id), so only a client built with
 * `allowReservedKeys` (the worker's) may use them.
 */
export const RESERVED_KEY_PREFIXES: Readonly<Record<string, readonly string[]>> = {
  'slack/alert': ['daily-report-', 'dead-'],
};

/** The issue of a reserved key for `queue/job`, or undefined when the key is free to use. */
export function reservedKeyIssue(queue: string, job: string, field: string, key: unknown): FieldIssue | undefined {
  const prefixes = RESERVED_KEY_PREFIXES[`${queue}/${job}`];
  if (!prefixes || typeof key !== 'string') return undefined;
  const prefix = prefixes.find((candidate) => key.startsWith(candidate));
  if (prefix === undefined) return undefined;
  return { field, message: `${field} must not start with "${prefix}": the worker reserves it for its own alerts` };
}
