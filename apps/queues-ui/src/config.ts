import { databaseUrlSetting } from '@ceres/db';
import { LONG_WAITS, loadQueuesConfig, type QueueName } from '@ceres/queues';
import { assertStrongSecret, AUTH_FAILURE_DEFAULTS, ConfigError, EnvLogLevel, parseEnv } from '@ceres/app-kit';
import { Type } from '@sinclair/typebox';

/** One variable per queue, named after it, defaulting to its queue.ts's `longWaitSeconds`. */
const LONG_WAIT_ENV = Object.fromEntries(
  LONG_WAITS.map(({ queue, seconds, env }) => [
    env,
    Type.Integer({
      default: seconds,
      minimum: 1,
      maximum: 7 * 24 * 3600,
      description: `Seconds the oldest due job of ${queue} may wait, and no job of it may start while jobs are due, before the long-wait or stalled alert`,
    }),
  ]),
);

/**
 * Every variable queues-ui reads besides the queues' (`QueuesEnv`), with its default: defaults live
 * here only; the docs' tables and `.env.example` are checked against it (tests/env-docs.test.ts).
 */
export const QueuesUiEnv = Type.Object({
  QUEUES_UI_HOST: Type.String({
    default: '127.0.0.1',
    minLength: 1,
    description: 'Interface to listen on (never beyond the machine by default)',
  }),
  QUEUES_UI_PORT: Type.Integer({ default: 3050, minimum: 1, maximum: 65535, description: 'Port' }),
  // Basic auth cannot carry a user name with a colon: the first colon ends the user.
  QUEUES_UI_USER: Type.String({ default: 'admin', minLength: 1, pattern: '^[^:\\r\\n]+$', description: 'Basic-auth user' }),
  QUEUES_UI_PASS: Type.String({
    minLength: 1,
    description: 'Basic-auth password, required: at least 16 characters with at least 6 distinct ones',
  }),
  QUEUES_UI_AUTH_FAILURE_LIMIT: Type.Integer({
    default: AUTH_FAILURE_DEFAULTS.max,
    minimum: 1,
    description: 'Wrong credentials per client address and window, then 429',
  }),
  QUEUES_UI_AUTH_FAILURE_WINDOW_MS: Type.Integer({
    default: AUTH_FAILURE_DEFAULTS.windowMs,
    minimum: 1000,
    description: 'That window, from the first failure',
  }),
  DATABASE_URL: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'PostgreSQL: the operator accounts, the audit trail, POST /api/erasure; unset: only QUEUES_UI_USER logs in, actions are not audited, erasure answers 503',
    }),
  ),
  QUEUES_UI_ACCOUNTS_REFRESH_MS: Type.Integer({
    default: 2000,
    minimum: 100,
    description: 'How often the operator accounts are read again from PostgreSQL (a disabled account or a new role takes effect within it)',
  }),
  QUEUES_UI_BASE_PATH: Type.Optional(
    Type.String({
      pattern: '^(/[A-Za-z0-9._~-]+)+/?$',
      description: 'Public path prefix when a reverse proxy serves the app under a sub-path and strips it, e.g. /ops',
    }),
  ),
  METRICS_MAX_TENANTS: Type.Integer({
    default: 200,
    minimum: 1,
    maximum: 10000,
    description: 'Tenant label values of the per-tenant metrics; the tenants beyond them are tenant="other"',
  }),
  METRICS_TENANT_SCAN_MS: Type.Integer({
    default: 30000,
    minimum: 0,
    description: 'How often /metrics reads every waiting job for the per-tenant waiting gauge (0: at every scrape)',
  }),
  LONG_WAIT_CHECK_MS: Type.Integer({
    default: 5000,
    minimum: 100,
    maximum: 60_000,
    description: 'How often the long-wait detector reads every queue',
  }),
  ...LONG_WAIT_ENV,
  SLACK_WEBHOOK_URL: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 2000,
      description: 'The Slack webhook the long-wait detector posts to itself while no worker consumes the slack queue',
    }),
  ),
  LOG_LEVEL: EnvLogLevel,
});

type Env = Record<string, string | undefined>;

/** The default of `QUEUES_UI_ACCOUNTS_REFRESH_MS`, for apps built without the environment (tests). */
export const ACCOUNTS_REFRESH_DEFAULT_MS: number = QueuesUiEnv.properties.QUEUES_UI_ACCOUNTS_REFRESH_MS.default;

const isHttpUrl = (value: string) => {
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
};

/** Reads the environment once; throws a `ConfigError` naming the bad or missing variable. */
export function loadConfig(env: Env = process.env) {
  if (env.QUEUES_UI_PASS === undefined || env.QUEUES_UI_PASS.trim() === '') {
    throw new ConfigError(
      'QUEUES_UI_PASS',
      'is required: it is the basic-auth password of Bull Board, the admin API and /metrics, and the app refuses to start without one',
    );
  }
  const parsed = parseEnv(QueuesUiEnv, env);
  if (parsed.SLACK_WEBHOOK_URL !== undefined && !isHttpUrl(parsed.SLACK_WEBHOOK_URL)) {
    throw new ConfigError('SLACK_WEBHOOK_URL', 'must be an http(s) URL, e.g. https://hooks.slack.com/services/…');
  }
  assertStrongSecret('QUEUES_UI_PASS', parsed.QUEUES_UI_PASS, 'the password');
  return {
    host: parsed.QUEUES_UI_HOST,
    port: parsed.QUEUES_UI_PORT,
    user: parsed.QUEUES_UI_USER,
    pass: parsed.QUEUES_UI_PASS,
    authFailures: { max: parsed.QUEUES_UI_AUTH_FAILURE_LIMIT, windowMs: parsed.QUEUES_UI_AUTH_FAILURE_WINDOW_MS },
    /** Normalized without a trailing slash; `''` when unset. */
    publicBasePath: (parsed.QUEUES_UI_BASE_PATH ?? '').replace(/\/$/, ''),
    logLevel: parsed.LOG_LEVEL,
    tenantMetrics: { maxTenants: parsed.METRICS_MAX_TENANTS, scanMs: parsed.METRICS_TENANT_SCAN_MS },
    queues: loadQueuesConfig(env),
    databaseUrl: parsed.DATABASE_URL === undefined ? undefined : databaseUrlSetting(env),
    accountsRefreshMs: parsed.QUEUES_UI_ACCOUNTS_REFRESH_MS,
    longWait: {
      /** Each queue's threshold in seconds, after its `<QUEUE>_LONG_WAIT_SECONDS`. */
      thresholds: Object.fromEntries(
        LONG_WAITS.map(({ queue, env }) => [queue, (parsed as unknown as Record<string, number>)[env]!]),
      ) as Record<QueueName, number>,
      checkMs: parsed.LONG_WAIT_CHECK_MS,
      slackWebhookUrl: parsed.SLACK_WEBHOOK_URL,
    },
  };
}

/** queues-ui's settings, as {@link loadConfig} reads them from {@link QueuesUiEnv}. */
export type QueuesUiConfig = ReturnType<typeof loadConfig>;
