import { schemaIssues } from '@ceres/queues';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { BadRequestError } from '../errors';

/**
 * Checks request input against a TypeBox schema and returns it typed, or throws a 400 naming the
 * first bad field. `convert` turns query-string text into numbers; bodies are JSON already and
 * are taken as sent.
 */
export function parseInput<S extends TSchema>(schema: S, value: unknown, { convert = false } = {}): Static<S> {
  let candidate = Value.Default(schema, structuredClone(value ?? {}));
  if (convert) candidate = Value.Convert(schema, candidate);
  const [issue] = schemaIssues(schema, candidate);
  if (issue) throw new BadRequestError(issue.field || 'body', issue.message);
  return candidate as Static<S>;
}

/** The largest position or page number accepted: beyond it Redis refuses the range (a 500). */
export const MAX_POSITION = 1_000_000_000;

/**
 * Throws a 400 naming the first of `fields` in `query` that is present but not a plain decimal
 * integer from `min` to `max`. TypeBox's conversion would read `1e20` or `1.5` as `1`.
 */
export function assertDecimalQuery(query: unknown, fields: readonly string[], min: number, max: number): void {
  const values = (query ?? {}) as Record<string, unknown>;
  for (const field of fields) {
    const raw = values[field];
    if (raw === undefined) continue;
    const ok = typeof raw === 'string' && /^[0-9]{1,10}$/.test(raw) && Number(raw) >= min && Number(raw) <= max;
    if (!ok) throw new BadRequestError(field, `${field} must be a whole number from ${min} to ${max}`);
  }
}
