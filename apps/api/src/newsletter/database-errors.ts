import { HttpError } from '@ceres/http';

/** pg's errors when the server cannot be reached or is going away, as opposed to a bad query. */
function isDatabaseOutage(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (
    typeof code === 'string' &&
    (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code) || /^(08|57P)/.test(code))
  )
    return true;
  return typeof message === 'string' && /timeout exceeded when trying to connect|Connection terminated/i.test(message);
}

/** Runs a PostgreSQL call; an outage answers 503 `DATABASE_UNAVAILABLE` (retry later) instead of a 500. */
export async function withDatabase<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isDatabaseOutage(error))
      throw new HttpError('DATABASE_UNAVAILABLE', 'the campaign store (PostgreSQL) cannot be reached; try again shortly');
    throw error;
  }
}
