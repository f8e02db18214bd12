import { databaseUrlFromEnv } from '@ceres/db';
import { loadQueuesConfig, type QueuesConfig } from '@ceres/queues';
import { assertStrongSecret, AUTH_FAILURE_DEFAULTS, ConfigError, EnvLogLevel, parseEnv, type LogLevel } from '@ceres/app-kit';
import { Type } from '@sinclair/typebox';


export const QueuesUiEnv = Type.Object({
  QUEUES_UI_HOST: Type.String({ default: '127.0.0.1', minLength: 1 }),
  QUEUES_UI_PORT: Type.Integer({ default: 3050, minimum: 1, maximum: 65535 }),
  // Basic auth cannot carry a user name with a colon: the first colon ends the user.
  QUEUES_UI_USER: Type.String({ default: 'admin', minLength: 1, pattern: '^[^:\\r\\n]+$' }),
  QUEUES_UI_PASS: Type.String({ minLength: 1 }),
  QUEUES_UI_AUTH_FAILURE_LIMIT: Type.Integer({ default: AUTH_FAILURE_DEFAULTS.max, minimum: 1 }),
  QUEUES_UI_AUTH_FAILURE_WINDOW_MS: Type.Integer({ default: AUTH_FAILURE_DEFAULTS.windowMs, minimum: 1000 }),
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  QUEUES_UI_BASE_PATH: Type.Optional(Type.String({ pattern: '^(/[A-Za-z0-9._~-]+)+/?$' })),
  LOG_LEVEL: EnvLogLevel,
});


export interface QueuesUiConfig {
  /** `QUEUES_UI_HOST`. @defaultValue `127.0.0.1` (never exposed beyond the machine by default) */
  host: string;
  /** `QUEUES_UI_PORT`. @defaultValue `3050` */
  port: number;
  /** `QUEUES_UI_USER`. @defaultValue `admin` */
  user: string;
  /** `QUEUES_UI_PASS`: required, at least 16 characters with 6 distinct ones; the app refuses to start otherwise. */
  pass: string;
  /**
   * `QUEUES_UI_AUTH_FAILURE_LIMIT` wrong credentials per client address per
   * `QUEUES_UI_AUTH_FAILURE_WINDOW_MS`, then 429 until the window ends.
   * @defaultValue `{ max: 20, windowMs: 900000 }` (15 min)
   */
  authFailures: { max: number; windowMs: number };
  /**
   * `QUEUES_UI_BASE_PATH`: the public path prefix when a reverse proxy serves the app under a
   * sub-path and strips it, e.g. `/ops`. Normalized without a trailing slash; `''` when unset.
   * @defaultValue `''`
   */
  publicBasePath: string;
  /** `LOG_LEVEL`. @defaultValue `info` */
  logLevel: LogLevel;
  /** `REDIS_URL`, `REDIS_PREFIX`. */
  queues: QueuesConfig;
  /** `DATABASE_URL`: only `POST /api/erasure` uses it (failed_jobs rows, tokens). */
  databaseUrl: string | undefined;
}

type Env = Record<string, string | undefined>;

/** Reads the environment once; throws a `ConfigError` naming the bad or missing variable. */
export function loadConfig(env: Env = process.env): QueuesUiConfig {
  if (env.QUEUES_UI_PASS === undefined || env.QUEUES_UI_PASS.trim() === '') {
    throw new ConfigError(
      'QUEUES_UI_PASS',
      'is required: it is the basic-auth password of Bull Board, the admin API and /metrics, and the app refuses to start without one',
    );
  }
  const parsed = parseEnv(QueuesUiEnv, env);
  assertStrongSecret('QUEUES_UI_PASS', parsed.QUEUES_UI_PASS, 'the password');
  return {
    host: parsed.QUEUES_UI_HOST,
    port: parsed.QUEUES_UI_PORT,
    user: parsed.QUEUES_UI_USER,
    pass: parsed.QUEUES_UI_PASS,
    authFailures: { max: parsed.QUEUES_UI_AUTH_FAILURE_LIMIT, windowMs: parsed.QUEUES_UI_AUTH_FAILURE_WINDOW_MS },
    publicBasePath: (parsed.QUEUES_UI_BASE_PATH ?? '').replace(/\/$/, ''),
    logLevel: parsed.LOG_LEVEL as LogLevel,
    queues: loadQueuesConfig(env),
    databaseUrl: parsed.DATABASE_URL === undefined ? undefined : checkedDatabaseUrl(env),
  };
}

/** `DATABASE_URL` checked as the worker checks it (named, no password echoed). */
function checkedDatabaseUrl(env: Env): string {
  try {
    return databaseUrlFromEnv(env);
  } catch (error) {
    throw new ConfigError('DATABASE_URL', (error as Error).message.replace(/^DATABASE_URL:? /, ''));
  }
}
