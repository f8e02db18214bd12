import { ConfigError } from '@ceres/app-kit';

/** A `DATABASE_URL` problem; the message names the variable. */
export class DatabaseUrlError extends Error {
  override name = 'DatabaseUrlError';
}

/**
 * Reads and checks `DATABASE_URL` (`postgres://user:pass@host:port/db`). Throws an error naming
 * the variable when it is missing or malformed, never echoing the password.
 */
export function databaseUrlFromEnv(env: Record<string, string | undefined> = process.env): string {
  const raw = env.DATABASE_URL?.trim();
  if (!raw) throw new DatabaseUrlError('DATABASE_URL is not set (expected postgres://user:pass@host:5432/dbname)');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DatabaseUrlError('DATABASE_URL is not a valid URL (expected postgres://user:pass@host:5432/dbname)');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new DatabaseUrlError(`DATABASE_URL must start with postgres:// or postgresql://, got "${url.protocol}//"`);
  }
  if (url.pathname.replace(/^\//, '') === '') {
    throw new DatabaseUrlError('DATABASE_URL must name a database in its path, e.g. postgres://host:5432/ceres');
  }
  return raw;
}

/**
 * `DATABASE_URL` as the apps read their settings: checked by {@link databaseUrlFromEnv}, a problem
 * thrown as the {@link ConfigError} naming it (`DATABASE_URL: is not set …`), like any other bad
 * variable. The one place the apps turn the one into the other.
 */
export function databaseUrlSetting(env: Record<string, string | undefined> = process.env): string {
  try {
    return databaseUrlFromEnv(env);
  } catch (error) {
    if (!(error instanceof DatabaseUrlError)) throw error;
    throw new ConfigError('DATABASE_URL', error.message.replace(/^DATABASE_URL:? /, ''));
  }
}
