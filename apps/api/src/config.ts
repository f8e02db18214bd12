import { loadQueuesConfig, missingKeyringError, type QueuesConfig } from '@ceres/queues';
import { assertStrongSecret, AUTH_FAILURE_DEFAULTS, ConfigError, EnvBoolean, envFlag, EnvLogLevel, MIN_SECRET_LENGTH, parseEnv, type LogLevel } from '@ceres/app-kit';
import { Type } from '@sinclair/typebox';

/** Shortest token accepted: a guessable token is no token (see `secretWeakness` for the whole rule). */
export const MIN_TOKEN_LENGTH = MIN_SECRET_LENGTH;


const ApiEnv = Type.Object({
  API_HOST: Type.String({ default: '127.0.0.1', minLength: 1 }),
  API_PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535 }),
  API_TOKENS: Type.Optional(Type.String()),
  API_AUTH: EnvBoolean({ default: true }),
  API_RATE_LIMIT_MAX: Type.Integer({ default: 6000, minimum: 1 }),
  API_BODY_LIMIT_BYTES: Type.Integer({ default: 1_048_576, minimum: 1024, maximum: 64 * 1_048_576 }),
  API_AUTH_FAILURE_LIMIT: Type.Integer({ default: AUTH_FAILURE_DEFAULTS.max, minimum: 1 }),
  API_AUTH_FAILURE_WINDOW_MS: Type.Integer({ default: AUTH_FAILURE_DEFAULTS.windowMs, minimum: 1000 }),
  API_SHUTDOWN_DRAIN_MS: Type.Integer({ default: 2_000, minimum: 0, maximum: 60_000 }),
  LOG_LEVEL: EnvLogLevel,
});

export interface ApiConfig {
  /** @defaultValue `127.0.0.1` */
  host: string;
  /** @defaultValue `3000` */
  port: number;
  auth: {
    /** False only with `API_AUTH=off` (or `false`/`no`). @defaultValue `true` */
    enabled: boolean;
    /** The bearer tokens of `API_TOKENS`; never logged. */
    tokens: string[];
  };
  /** Requests per token (per client IP with auth off) per minute, per process. @defaultValue `6000` */
  rateLimitMax: number;
  /**
   * Failed authentications per client address and window before that address is refused (429)
   * until the window ends, per process. @defaultValue `{ max: 20, windowMs: 900000 }` (15 min)
   */
  authFailures: { max: number; windowMs: number };
  /** Largest accepted request body in bytes. @defaultValue `1048576` (1 MiB) */
  bodyLimitBytes: number;
  /**
   * On SIGINT/SIGTERM, how long the API keeps serving (with `Connection: close`) so clients leave
   * their keep-alive connections before it closes; stays below PM2's kill_timeout. @defaultValue `2000`
   */
  shutdownDrainMs: number;
  /** @defaultValue `info` */
  logLevel: LogLevel;
  queues: QueuesConfig;
}

/**
 * Reads the API's settings once at startup. Throws a {@link ConfigError} naming the bad variable,
 * including when no token is set and authentication was not turned off explicitly.
 */
export function loadApiConfig(env: Record<string, string | undefined> = process.env): ApiConfig {
  const parsed = parseEnv(ApiEnv, env);
  const queues = loadQueuesConfig(env);
  const enabled = envFlag(parsed.API_AUTH);
  const tokens = (parsed.API_TOKENS ?? '')
    .split(',')
    .map((token) => token.trim())
    .filter((token) => token !== '');
  if (enabled && tokens.length === 0) {
    throw new ConfigError(
      'API_TOKENS',
      'set at least one bearer token (comma-separated), or set API_AUTH=off explicitly to run without authentication',
    );
  }
  tokens.forEach((token, i) => assertStrongSecret('API_TOKENS', token, `token #${i + 1}`));
  // The API enqueues mails: their personal fields are encrypted before they reach Redis.
  if (!queues.keyring) throw missingKeyringError('API');
  return {
    host: parsed.API_HOST,
    port: parsed.API_PORT,
    auth: { enabled, tokens },
    rateLimitMax: parsed.API_RATE_LIMIT_MAX,
    authFailures: { max: parsed.API_AUTH_FAILURE_LIMIT, windowMs: parsed.API_AUTH_FAILURE_WINDOW_MS },
    bodyLimitBytes: parsed.API_BODY_LIMIT_BYTES,
    shutdownDrainMs: parsed.API_SHUTDOWN_DRAIN_MS,
    logLevel: parsed.LOG_LEVEL as LogLevel,
    queues,
  };
}
