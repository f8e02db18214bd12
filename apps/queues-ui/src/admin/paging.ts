import { badRequest } from '../errors';

/** The largest position or page number accepted: beyond it Redis refuses the range (a 500). */
export const MAX_POSITION = 1_000_000_000;

/**
 * Throws a 400 naming the first of `fields` in `query` that is present but not a plain decimal
 * integer from `min` to `max`. For Bull Board's own routes, whose query this app has no schema for.
 */
export function assertDecimalQuery(query: unknown, fields: readonly string[], min: number, max: number): void {
  const values = (query ?? {}) as Record<string, unknown>;
  for (const field of fields) {
    const raw = values[field];
    if (raw === undefined) continue;
    const ok = typeof raw === 'string' && /^[0-9]{1,10}$/.test(raw) && Number(raw) >= min && Number(raw) <= max;
    if (!ok) throw badRequest('request', field, `${field} must be a whole number from ${min} to ${max}`);
  }
}
