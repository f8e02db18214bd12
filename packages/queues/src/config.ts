import { ConfigError } from '@ceres/app-kit';
import { keyringFromEnv, type Keyring } from './crypto/keyring';

/** Where the queues live. Parsed once from the environment by {@link loadQueuesConfig}. */
export interface QueuesConfig {
  /** The Redis URL without its database path, e.g. `redis://127.0.0.1:6379`. */
  redisUrl: string;
  /** The logical database: the one named in `REDIS_URL`'s path, else 5. */
  redisDb: number;
  /** `REDIS_PREFIX`, e.g. `ceres:`. */
  redisPrefix: string;
  /** The prefix BullMQ gets: `${redisPrefix}queue`, so keys read `ceres:queue:<queue>:…`. */
  bullPrefix: string;
  /**
   * `REDIS_COMMAND_TIMEOUT_MS`: how long a producer command (an add, a status read) may wait for
   * Redis before it fails as an outage. A Redis that hangs without closing its sockets would
   * otherwise hold every request until TCP gives up. Workers' connections have none: their
   * blocking commands wait by design. @defaultValue `5000`
   */
  commandTimeoutMs: number;
  /**
   * `JOBS_ENCRYPTION_KEYS`, parsed: producers encrypt personal fields with its first key, the worker
   * decrypts with any. `undefined` when unset; a client then refuses job types with personal fields.
   */
  keyring?: Keyring;
}

/** @defaultValue `redis://127.0.0.1:6379` */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
/** Queues are kept apart from the platform's other Redis data in this logical database. */
export const DEFAULT_REDIS_DB = 5;
/** @defaultValue `ceres:` */
export const DEFAULT_REDIS_PREFIX = 'ceres:';
/** @defaultValue `5000` */
export const DEFAULT_COMMAND_TIMEOUT_MS = 5000;

type Env = Record<string, string | undefined>;

/** Reads `REDIS_URL`, `REDIS_PREFIX`, `REDIS_COMMAND_TIMEOUT_MS` and `JOBS_ENCRYPTION_KEYS`; throws a {@link ConfigError} naming the bad variable. */
export function loadQueuesConfig(env: Env = process.env): QueuesConfig {
  const rawUrl = nonEmpty(env.REDIS_URL) ?? DEFAULT_REDIS_URL;
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new ConfigError('REDIS_URL', `not a valid URL (expected redis://host:port/db), got "${redact(rawUrl)}"`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new ConfigError('REDIS_URL', `must start with redis:// or rediss://, got "${url.protocol}//"`);
  }
  const dbPath = url.pathname.replace(/^\//, '');
  let redisDb = DEFAULT_REDIS_DB;
  if (dbPath !== '') {
    if (!/^\d{1,2}$/.test(dbPath)) {
      throw new ConfigError('REDIS_URL', `the path must be a database number (0-15), got "/${dbPath}"`);
    }
    redisDb = Number(dbPath);
  }
  url.pathname = '';
  const redisPrefix = nonEmpty(env.REDIS_PREFIX) ?? DEFAULT_REDIS_PREFIX;
  if (!/^[A-Za-z0-9_.-]+:$/.test(redisPrefix)) {
    throw new ConfigError('REDIS_PREFIX', `must be letters, digits, "_", "." or "-" ending in ":", got "${redisPrefix}"`);
  }
  const rawTimeout = nonEmpty(env.REDIS_COMMAND_TIMEOUT_MS);
  const commandTimeoutMs = rawTimeout === undefined ? DEFAULT_COMMAND_TIMEOUT_MS : Number(rawTimeout);
  if (!Number.isInteger(commandTimeoutMs) || commandTimeoutMs < 100 || commandTimeoutMs > 60_000) {
    throw new ConfigError('REDIS_COMMAND_TIMEOUT_MS', `must be a whole number of milliseconds from 100 to 60000, got "${rawTimeout}"`);
  }
  return {
    redisUrl: url.toString().replace(/\/$/, ''),
    redisDb,
    redisPrefix,
    bullPrefix: `${redisPrefix}queue`,
    commandTimeoutMs,
    keyring: keyringFromEnv(env),
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** Never echo a password back into logs or errors. */
function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
