import { loadQueuesConfig, missingKeyringError } from '@ceres/queues';
import {
  assertStrongSecret,
  AUTH_FAILURE_DEFAULTS,
  parseSecretList,
  ConfigError,
  EnvBoolean,
  envFlag,
  EnvLogLevel,
  MIN_SECRET_LENGTH,
  parseEnv,
  TracingEnv,
} from '@ceres/app-kit';
import { databaseUrlSetting } from '@ceres/db';
import { Type } from '@sinclair/typebox';

/** Shortest token accepted: a guessable token is no token (see `secretWeakness` for the whole rule). */
export const MIN_TOKEN_LENGTH = MIN_SECRET_LENGTH;

/**
 * Every variable the API reads besides the queues' (`QueuesEnv`), with its default: defaults live
 * here only; the docs' tables and `.env.example` are checked against it (tests/env-docs.test.ts).
 */
export const ApiEnv = Type.Object({
  API_HOST: Type.String({ default: '127.0.0.1', minLength: 1, description: 'Interface to listen on' }),
  API_PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535, description: 'Port' }),
  API_TOKENS: Type.Optional(
    Type.String({
      description: `Comma-separated bearer tokens, each at least ${MIN_SECRET_LENGTH} characters with at least 6 distinct ones; required unless API_AUTH=off`,
    }),
  ),
  API_AUTH: EnvBoolean({ default: true, description: '`off` (or `false`/`no`) runs without authentication, warned at every start' }),
  API_RATE_LIMIT_MAX: Type.Integer({ default: 6000, minimum: 1, description: 'Requests per token per minute, per process' }),
  API_UNSUBSCRIBE_RATE_LIMIT_MAX: Type.Integer({
    default: 10,
    minimum: 1,
    description: 'POST /unsubscribe requests per link (per client address for a malformed one) per minute, per process',
  }),
  API_BODY_LIMIT_BYTES: Type.Integer({
    default: 1_048_576,
    minimum: 1024,
    maximum: 64 * 1_048_576,
    description: 'Largest request body; larger ones get 413',
  }),
  API_AUTH_FAILURE_LIMIT: Type.Integer({
    default: AUTH_FAILURE_DEFAULTS.max,
    minimum: 1,
    description: 'Wrong tokens per client address and window, then 429',
  }),
  API_AUTH_FAILURE_WINDOW_MS: Type.Integer({
    default: AUTH_FAILURE_DEFAULTS.windowMs,
    minimum: 1000,
    description: 'That window, from the first failure',
  }),
  API_SHUTDOWN_DRAIN_MS: Type.Integer({
    default: 2_000,
    minimum: 0,
    maximum: 60_000,
    description: 'On stop, how long to keep serving with Connection: close before closing; below PM2 kill_timeout',
  }),
  DATABASE_URL: Type.String({
    minLength: 1,
    description: 'PostgreSQL (the newsletter campaigns), e.g. postgres://user:pass@127.0.0.1:5432/ceres',
  }),
  UNSUBSCRIBE_SECRET: Type.String({
    minLength: 1,
    description: `Checks the signature of the newsletter unsubscribe tokens (the worker signs them): comma-separated, newest first, any accepted; each at least ${MIN_SECRET_LENGTH} characters with at least 6 distinct ones`,
  }),
  LOG_LEVEL: EnvLogLevel,
  ...TracingEnv.properties,
});

/**
 * Reads the API's settings once at startup. Throws a {@link ConfigError} naming the bad variable,
 * including when no token is set and authentication was not turned off explicitly.
 */
export function loadApiConfig(env: Record<string, string | undefined> = process.env) {
  const databaseUrl = databaseUrlSetting(env);
  const parsed = parseEnv(ApiEnv, env);
  const unsubscribeSecrets = parseSecretList('UNSUBSCRIBE_SECRET', parsed.UNSUBSCRIBE_SECRET);
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
    /** `tokens` are never logged; with auth off, rate limits key on the client IP. */
    auth: { enabled, tokens },
    rateLimitMax: parsed.API_RATE_LIMIT_MAX,
    unsubscribeRateLimitMax: parsed.API_UNSUBSCRIBE_RATE_LIMIT_MAX,
    authFailures: { max: parsed.API_AUTH_FAILURE_LIMIT, windowMs: parsed.API_AUTH_FAILURE_WINDOW_MS },
    bodyLimitBytes: parsed.API_BODY_LIMIT_BYTES,
    shutdownDrainMs: parsed.API_SHUTDOWN_DRAIN_MS,
    logLevel: parsed.LOG_LEVEL,
    databaseUrl,
    /** Never logged. Newest first: a link signed with any of them is accepted. */
    unsubscribeSecrets,
    queues,
  };
}

/** The API's settings, as {@link loadApiConfig} reads them from {@link ApiEnv}. */
export type ApiConfig = ReturnType<typeof loadApiConfig>;
