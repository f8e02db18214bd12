import { Type } from '@sinclair/typebox';
import type { LevelWithSilent } from 'pino';
import { loadQueuesConfig, missingKeyringError, RATE_LIMITED_QUEUES, SCHEDULED_JOB_TYPES, type QueueName } from '@ceres/queues';
import { ConfigError, parseSecretList, EnvLogLevel, MIN_SECRET_LENGTH, parseEnv, TracingEnv } from '@ceres/app-kit';
import { databaseUrlSetting } from '@ceres/db';
import { FILES_ENV, fileLimitsFromEnv } from './files/limits';

/**
 * Checked by {@link checkUrl} after parsing, for a message that says what is expected. At most 2,000
 * characters: the unsubscribe link's length bounds the newsletters' size (MAX_PLACEHOLDER_VALUE_CHARS).
 */
const Url = (description: string, options: { default?: string } = {}) =>
  Type.String({ minLength: 1, maxLength: 2_000, description, ...options });

/** One variable per cron job type, named by its definition file and defaulting to its pattern. */
const SCHEDULE_ENV = Object.fromEntries(
  SCHEDULED_JOB_TYPES.map(({ type, definition }) => [
    definition.schedule!.env,
    Type.String({ default: definition.schedule!.pattern, description: `When ${type} runs (in TZ)` }),
  ]),
);

/** One variable per rate-limited queue, named by its queue.ts; unset without a default: no limit. */
const RATE_ENV = Object.fromEntries(
  RATE_LIMITED_QUEUES.map(({ queue, rateLimit }) => {
    const rate = Type.Number({
      minimum: 0.01,
      maximum: 100_000,
      description: `${rateLimit.description} (jobs of ${queue} started per second, across all workers)`,
    });
    return [
      rateLimit.env,
      rateLimit.perSecond === undefined ? Type.Optional(rate) : Type.Number({ ...rate, default: rateLimit.perSecond }),
    ];
  }),
);

/**
 * Every variable the worker reads besides the queues' and DATABASE_URL's, with its default: defaults
 * live here only; the docs' tables and `.env.example` are checked against it (tests/env-docs.test.ts).
 */
export const WorkerEnv = Type.Object({
  ...SCHEDULE_ENV,
  ...RATE_ENV,
  ...FILES_ENV,
  DATABASE_URL: Type.String({ minLength: 1, description: 'PostgreSQL, e.g. postgres://user:pass@127.0.0.1:5432/ceres' }),
  SMTP_URL: Type.Optional(Url('smtp:// or smtps:// URL of the mail relay; unset: mails go to OUTBOX_DIR as .eml files')),
  OUTBOX_DIR: Type.String({ default: 'var/outbox', minLength: 1, description: 'Where mails are written when SMTP_URL is unset' }),
  MAIL_FROM: Type.String({ default: 'Ceres <no-reply@localhost>', minLength: 3, pattern: '^[^\\r\\n]+$', description: 'The From header' }),
  APP_URL: Url('Public URL of the web platform; mail links point here', { default: 'http://localhost:3000' }),
  UNSUBSCRIBE_SECRET: Type.String({
    minLength: 1,
    description: `Signs the newsletter unsubscribe links (the API checks them): comma-separated, newest first, the first signs; each at least ${MIN_SECRET_LENGTH} characters with at least 6 distinct ones`,
  }),
  UNSUBSCRIBE_URL: Type.Optional(Url("Public URL of the API's POST /unsubscribe, https in production; unset: APP_URL + /unsubscribe")),
  UNSUBSCRIBE_MAILTO: Type.Optional(
    Type.String({
      format: 'email',
      description: "The List-Unsubscribe mailto address (the token is the subject); unset: MAIL_FROM's address",
    }),
  ),
  SMTP_THROTTLE_PAUSE_MS: Type.Integer({
    default: 30_000,
    minimum: 100,
    maximum: 900_000,
    description: 'How long the mail queues pause after an SMTP throttling answer (421, 450/451 4.7.x)',
  }),
  SLACK_WEBHOOK_URL: Type.Optional(Url('Slack incoming webhook; unset: alerts are logged at warn level')),
  SLACK_TIMEOUT_MS: Type.Integer({ default: 10_000, minimum: 100, maximum: 60_000, description: 'Timeout of one webhook call' }),
  TZ: Type.String({ default: 'America/Argentina/Cordoba', minLength: 1, description: 'Time zone of the maintenance crons' }),
  REPORT_EMAIL_TO: Type.Optional(Type.String({ format: 'email', description: 'Also mail the daily report here' })),
  LOG_LEVEL: EnvLogLevel,
  ...TracingEnv.properties,
  FILES_SANDBOX_TIMEOUT_MS: Type.Integer({
    default: 10_000,
    minimum: 100,
    description: 'Wall-clock limit of one file inspection in its child process',
  }),
  DEAD_LETTER_DIGEST_AFTER: Type.Integer({
    default: 5,
    minimum: 0,
    maximum: 10_000,
    description: 'Dead letters of one queue per minute alerted one by one; beyond that, one digest per queue and minute',
  }),
  DEAD_LETTER_RECONCILE_INTERVAL_MS: Type.Integer({
    default: 60_000,
    minimum: 1_000,
    description: 'How often one instance per queue reconciles the failed sets with failed_jobs',
  }),
  WORKER_LOCK_DURATION_MS: Type.Integer({ default: 30_000, minimum: 1_000, description: 'BullMQ lockDuration' }),
  WORKER_STALLED_INTERVAL_MS: Type.Integer({ default: 30_000, minimum: 1_000, description: 'BullMQ stalledInterval' }),
  FAILED_JOBS_RETENTION_DAYS: Type.Integer({ default: 30, minimum: 1, maximum: 3650, description: 'Days a failed_jobs row is kept' }),
  AUDIT_RETENTION_DAYS: Type.Integer({ default: 400, minimum: 1, maximum: 3650, description: 'Days an audit_log row is kept' }),
  JOB_LEDGER_RETENTION_DAYS: Type.Integer({ default: 90, minimum: 1, maximum: 3650, description: 'Days a job_ledger row is kept' }),
  JOB_LEDGER_MAX_PENDING_ROWS: Type.Integer({
    default: 500_000,
    minimum: 1_000,
    maximum: 50_000_000,
    description: 'Ledger rows that may wait in Redis for PostgreSQL; beyond, new batches are dropped and counted',
  }),
  WORKER_STALL_CHECK_MS: Type.Integer({
    default: 30_000,
    minimum: 500,
    description: 'How long a queue may take no job while jobs wait before its worker is rebuilt',
  }),
  WORKER_TENANTS_REFRESH_MS: Type.Integer({
    default: 5_000,
    minimum: 100,
    maximum: 10_000,
    description: 'How often the worker asks PostgreSQL whether a tenant changed (tenants update reaches it within this)',
  }),
  WORKER_TENANT_PARK_MS: Type.Integer({
    default: 30_000,
    minimum: 100,
    maximum: 3_600_000,
    description: "How long a disabled tenant's job waits (delayed, no attempt used) before it is looked at again",
  }),
  WORKER_BREAKER_FAILURES: Type.Integer({
    default: 5,
    minimum: 0,
    maximum: 1_000,
    description:
      'Consecutive transport failures of an SMTP relay or Slack webhook (refused, timed out, TLS, closed) that open its circuit breaker; 0: no breakers',
  }),
  WORKER_BREAKER_COOLDOWN_MS: Type.Integer({
    default: 30_000,
    minimum: 100,
    maximum: 3_600_000,
    description: "How long an open breaker holds its dependency's jobs (no attempt used) before one probe job is let through",
  }),
  WORKER_ACTIVITY_LOG_MS: Type.Integer({
    default: 60_000,
    minimum: 100,
    description: 'How often each queue logs its activity line at info',
  }),
});

/** Reads and checks the environment; throws a `ConfigError` naming the first bad variable. */
export function loadWorkerConfig(env: Record<string, string | undefined> = process.env) {
  const databaseUrl = databaseUrlSetting(env);
  const parsed = parseEnv(WorkerEnv, env);
  if (parsed.SMTP_URL) checkUrl('SMTP_URL', parsed.SMTP_URL, ['smtp:', 'smtps:'], 'smtp://user:pass@host:587');
  checkUrl('APP_URL', parsed.APP_URL, ['http:', 'https:'], 'https://ceres.example');
  // Newest first: the worker signs with the first; the API still accepts links signed with the others.
  const [unsubscribeSecret] = parseSecretList('UNSUBSCRIBE_SECRET', parsed.UNSUBSCRIBE_SECRET);
  if (parsed.UNSUBSCRIBE_URL)
    checkUrl('UNSUBSCRIBE_URL', parsed.UNSUBSCRIBE_URL, ['http:', 'https:'], 'https://api.ceres.example/unsubscribe');
  const unsubscribeUrl = parsed.UNSUBSCRIBE_URL ?? `${parsed.APP_URL.replace(/\/+$/, '')}/unsubscribe`;
  // As the links write it (percent-encoded): the bound POST /campaigns checks templates against.
  if (new URL(unsubscribeUrl).href.length > 2_000) {
    throw new ConfigError(
      parsed.UNSUBSCRIBE_URL ? 'UNSUBSCRIBE_URL' : 'APP_URL',
      'the unsubscribe URL is longer than 2,000 characters once percent-encoded',
    );
  }
  const fromAddress = /<([^<>]+)>\s*$/.exec(parsed.MAIL_FROM)?.[1] ?? parsed.MAIL_FROM.trim();
  if (parsed.SLACK_WEBHOOK_URL)
    checkUrl('SLACK_WEBHOOK_URL', parsed.SLACK_WEBHOOK_URL, ['http:', 'https:'], 'https://hooks.slack.com/services/…');
  const schedules = SCHEDULED_JOB_TYPES.map(({ queue, job, definition }) => {
    const variable = definition.schedule!.env;
    const pattern = (parsed as unknown as Record<string, string>)[variable]!;
    if (!/^\S+( \S+){4,5}$/.test(pattern)) {
      throw new ConfigError(variable, `must be a cron pattern of 5 fields (or 6 with seconds first), got "${pattern}"`);
    }
    return { queue, job, pattern };
  });
  const rates = Object.fromEntries(
    RATE_LIMITED_QUEUES.flatMap(({ queue, rateLimit }) => {
      const rate = (parsed as unknown as Record<string, number | undefined>)[rateLimit.env];
      return rate === undefined ? [] : [[queue, rate]];
    }),
  ) as Partial<Record<QueueName, number>>;
  if (!isTimeZone(parsed.TZ)) throw new ConfigError('TZ', `unknown time zone "${parsed.TZ}"`);
  const queues = loadQueuesConfig(env);
  // It decrypts the jobs it runs and encrypts the ones it enqueues.
  if (!queues.keyring) throw missingKeyringError('worker');
  return {
    queues,
    databaseUrl,
    /** `undefined`: write mails to `outboxDir`. */
    smtpUrl: parsed.SMTP_URL,
    outboxDir: parsed.OUTBOX_DIR,
    mailFrom: parsed.MAIL_FROM,
    /** How long a queue takes no mail after an SMTP throttling answer. */
    smtpThrottlePauseMs: parsed.SMTP_THROTTLE_PAUSE_MS,
    /** Without a trailing slash. */
    appUrl: parsed.APP_URL.replace(/\/+$/, ''),
    /** The newsletters' List-Unsubscribe targets and the key that signs their tokens (never logged). */
    unsubscribe: {
      secret: unsubscribeSecret,
      url: unsubscribeUrl,
      mailto: parsed.UNSUBSCRIBE_MAILTO ?? fromAddress,
    },
    slackWebhookUrl: parsed.SLACK_WEBHOOK_URL,
    slackTimeoutMs: parsed.SLACK_TIMEOUT_MS,
    timeZone: parsed.TZ,
    uploadsDir: parsed.UPLOADS_DIR,
    /** Size, page and pixel bounds of the file jobs. */
    fileLimits: fileLimitsFromEnv(parsed),
    fileSandboxTimeoutMs: parsed.FILES_SANDBOX_TIMEOUT_MS,
    reportEmailTo: parsed.REPORT_EMAIL_TO,
    logLevel: parsed.LOG_LEVEL as LevelWithSilent,
    /** How long a job's lock lives without renewal; a killed worker's jobs are re-run after about this long. */
    /** How often the failed sets are reconciled with `failed_jobs` (once per interval across instances). */
    deadLetterReconcileIntervalMs: parsed.DEAD_LETTER_RECONCILE_INTERVAL_MS,
    /** Dead letters of one queue per minute alerted one by one; the rest go into that minute's digest. */
    deadLetterDigestAfter: parsed.DEAD_LETTER_DIGEST_AFTER,
    lockDurationMs: parsed.WORKER_LOCK_DURATION_MS,
    /** How often each worker looks for jobs whose lock expired (stalled). */
    stalledIntervalMs: parsed.WORKER_STALLED_INTERVAL_MS,
    /** A worker that takes no job for this long while jobs wait is rebuilt, then the process exits (stall-watchdog.ts). */
    stallCheckMs: parsed.WORKER_STALL_CHECK_MS,
    /** How often the tenants' settings are looked at again (tenants/directory.ts). */
    tenantsRefreshMs: parsed.WORKER_TENANTS_REFRESH_MS,
    /** How long a disabled tenant's job is put off each time it is taken (tenants/gate.ts). */
    tenantParkMs: parsed.WORKER_TENANT_PARK_MS,
    /** The circuit breakers of the SMTP relays and Slack webhooks (breakers/board.ts); `failures` 0: none. */
    breakers: { failures: parsed.WORKER_BREAKER_FAILURES, coolDownMs: parsed.WORKER_BREAKER_COOLDOWN_MS },
    /** How often each queue's `queue activity` line is logged (when it did something). */
    activityLogMs: parsed.WORKER_ACTIVITY_LOG_MS,
    /** `FAILED_JOBS_RETENTION_DAYS`: the daily purge deletes older `failed_jobs` rows. */
    failedJobsRetentionDays: parsed.FAILED_JOBS_RETENTION_DAYS,
    /** `AUDIT_RETENTION_DAYS`: the daily `audit-retention` cron deletes older `audit_log` rows. */
    auditRetentionDays: parsed.AUDIT_RETENTION_DAYS,
    /** `JOB_LEDGER_RETENTION_DAYS`: the daily `ledger-retention` cron deletes older `job_ledger` rows. */
    jobLedgerRetentionDays: parsed.JOB_LEDGER_RETENTION_DAYS,
    /** `JOB_LEDGER_MAX_PENDING_ROWS`: the bound of the ledger's list in Redis (ledger.ts). */
    jobLedgerMaxPendingRows: parsed.JOB_LEDGER_MAX_PENDING_ROWS,
    /** Jobs started per second, per rate-limited queue (absent: no limit). */
    rates,
    /** The cron job types and their patterns (in `timeZone`), from the definitions and their variables. */
    schedules: schedules as ReadonlyArray<{ queue: QueueName; job: string; pattern: string }>,
  };
}

/** The worker's settings, as {@link loadWorkerConfig} reads them from {@link WorkerEnv}. */
export type WorkerConfig = ReturnType<typeof loadWorkerConfig>;

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function checkUrl(variable: string, value: string, protocols: string[], example: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(variable, `not a valid URL (expected e.g. ${example})`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(variable, `must start with ${protocols.map((p) => `${p}//`).join(' or ')} (expected e.g. ${example})`);
  }
}
