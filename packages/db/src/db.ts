import { DEFAULT_TENANT } from '@ceres/app-kit';
import pg from 'pg';
import { createHashedTokenStore, type HashedTokenStore } from './hashed-tokens';
import { createNewsletterStore, type NewsletterStore } from './newsletter';
import { createApiTokenStore, createTenantStore, type ApiTokenStore, type TenantStore } from './tenants';
import { createAccountStore, type AccountStore } from './accounts';
import { createAuditLog, type AuditLog } from './audit-log';
import { createJobLedgerStore, type JobLedgerStore } from './job-ledger';
import { storableJson, storableString } from './storable';

// bigint (count(*), bigserial) comes back as a string by default; our counts fit a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number.parseInt(value, 10));

export interface VerificationToken {
  token: string;
  userId: string;
  /** The tenant whose user it is. */
  tenant: string;
  expiresAt: Date;
  createdAt: Date;
}

/** One final failure of a job, as archived in `failed_jobs`. */
export interface FailedJobRow {
  queue: string;
  jobName: string;
  jobId: string;
  payload: unknown;
  error: string;
  stacktrace?: string | null;
  attemptsMade: number;
  /** The job's `finishedOn`: identical in every process, part of the unique key. */
  failedAt: Date;
}

/** A `failed_jobs` row as PostgreSQL returns it (`SELECT *`): the columns of migrations 001 and 002. */
export interface FailedJobRecord {
  id: number;
  queue: string;
  job_name: string;
  job_id: string;
  payload: unknown;
  error: string;
  stacktrace: string | null;
  attempts_made: number;
  failed_at: Date;
  archived_at: Date;
  retried_at: Date | null;
  retried_job_id: string | null;
}

export interface FailureReason {
  queue: string;
  reason: string;
  count: number;
}

export interface TokenStore {
  /** The token whatever its expiry, or null when it does not exist. */
  find(token: string): Promise<VerificationToken | null>;
  /** The token when it exists and `expires_at` is after `now`, else null. */
  findValid(token: string, now: Date): Promise<VerificationToken | null>;
  /** `tenant`: the tenant whose user it is (`default` when absent). */
  insert(token: { token: string; userId: string; expiresAt: Date; tenant?: string }): Promise<void>;
  /** Deletes the tokens that expired at or before `now`; returns how many. */
  deleteExpired(now: Date): Promise<number>;
  /** Deletes every token of user `userId` of `tenant` (erasure; `default` when absent); returns how many. */
  deleteForUser(userId: string, tenant?: string): Promise<number>;
}

/** One final failure, as the unique key of `failed_jobs` names it. */
export interface FailureKey {
  jobId: string;
  failedAt: Date;
}

export interface FailedJobStore {
  /**
   * Inserts the row; false when this final failure was already archived (by any process). NULs and
   * lone UTF-16 surrogates, which PostgreSQL refuses, are stored as U+FFFD.
   */
  archive(row: FailedJobRow): Promise<boolean>;
  /** {@link FailedJobStore.archive} for many rows in one statement; returns how many were new. */
  archiveMany(rows: readonly FailedJobRow[]): Promise<number>;
  has(key: { queue: string; jobId: string; failedAt: Date }): Promise<boolean>;
  /** Which of these final failures of one queue are archived, in one query: their indexes in `keys`. */
  archivedAmong(queue: string, keys: readonly FailureKey[]): Promise<Set<number>>;
  /** Rows for one job id, newest first. */
  list(filter: { queue: string; jobId?: string }): Promise<Array<FailedJobRow & { id: number }>>;
  /** Final failures per queue since `since`. */
  countSince(since: Date): Promise<Record<string, number>>;
  /** The most frequent errors since `since`, most frequent first. */
  topReasonsSince(since: Date, limit: number): Promise<FailureReason[]>;
  /** Deletes the rows of final failures before `cutoff` (retention); returns how many. */
  purgeFailedBefore(cutoff: Date): Promise<number>;
  /**
   * Deletes the rows whose payload's `userId` is `userId` and whose payload names `tenant` (its
   * `$tenant`; none for `default`, the default) (erasure); returns how many.
   */
  deleteForUser(userId: string, tenant?: string): Promise<number>;
  /**
   * Final failures since `since` per tenant (the payload's `$tenant`, `default` when none) and
   * queue; only those of `tenants` when given.
   */
  countSinceByTenant(since: Date, options?: { tenants?: readonly string[] }): Promise<Record<string, Record<string, number>>>;
  /** {@link FailedJobStore.topReasonsSince} of each tenant of `tenants`, in one query: up to `limit` per tenant. */
  topReasonsByTenantSince(since: Date, tenants: readonly string[], limit: number): Promise<Record<string, FailureReason[]>>;
  /** Deletes the row of one final failure; false when there was none. */
  delete(key: { queue: string; jobId: string; failedAt: Date }): Promise<boolean>;
}

/** A mail the SMTP server accepted for one job, recorded right after it did. */
export interface SentMail {
  queue: string;
  jobId: string;
  /** The job's own `timestamp` (creation time): a job id reused later is another job. */
  jobCreatedAt: Date;
  messageId: string;
}

/** The run of a job that is sending its mail: its attempts made and stalled count at the time. */
export interface SendingRun {
  attempt: number;
  stalled: number;
}

export interface SentMailStore {
  /** Records the mail as accepted (settling a {@link SentMailStore.intend}); false when this job's mail was already recorded. */
  record(mail: SentMail): Promise<boolean>;
  /** The message id recorded as accepted for this job, or null. */
  find(key: { queue: string; jobId: string; jobCreatedAt: Date }): Promise<string | null>;
  /**
   * Writes, before the send, that `run` is sending this job's mail with `messageId`; false when
   * the mail is recorded as accepted already.
   */
  intend(mail: SentMail & { run: SendingRun }): Promise<boolean>;
  /** This job's row: accepted (`sending` null), or being sent by `sending`; null when none. */
  lookup(key: { queue: string; jobId: string; jobCreatedAt: Date }): Promise<{ messageId: string; sending: SendingRun | null } | null>;
  /** Deletes the records of mails sent before `before`; returns how many. */
  deleteSentBefore(before: Date): Promise<number>;
  /** Deletes the records whose job id matches one of these PostgreSQL regular expressions (erasure); returns how many. */
  deleteMatching(jobIdPatterns: readonly string[]): Promise<number>;
  /**
   * Mails accepted since `since` per tenant of `tenants`: the tenant of a job id is its `<tenant>@`
   * prefix (`scopedJobId` of @ceres/queues), `default` without one.
   */
  countSinceByTenant(since: Date, tenants: readonly string[]): Promise<Record<string, number>>;
}

export interface Db {
  pool: pg.Pool;
  tokens: TokenStore;
  failedJobs: FailedJobStore;
  sentMails: SentMailStore;
  /** Newsletter campaigns, recipients and opt-outs. */
  newsletter: NewsletterStore;
  /** The tenants (municipalities) sharing the platform. */
  tenants: TenantStore;
  /** The API tokens of the tenants (keyed hashes). */
  apiTokens: ApiTokenStore;
  /** The operator accounts (Bull Board, the admin API, the CLI) and their roles. */
  accounts: AccountStore;
  /** The hash-chained trail of every mutating operator action. */
  audit: AuditLog;
  /** Every job's outcome, kept after Redis dropped the job (`job_ledger`). */
  jobLedger: JobLedgerStore;
  /**
   * The hashed token store of table `table` (a job type's `tokenStore`, e.g. `password_reset_tokens`);
   * one per table, made on first use.
   */
  hashedTokens(table: string): HashedTokenStore;
  /** A cheap round trip, for health checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface CreateDbOptions {
  /** @defaultValue 5 — the worker runs at most a few dozen jobs at once, most never touch the database. */
  maxConnections?: number;
  /** Names the connections in `pg_stat_activity`. @defaultValue `ceres` */
  applicationName?: string;
}

type TokenRecord = { token: string; user_id: string; tenant_id: string; expires_at: Date; created_at: Date };
const toToken = (row: TokenRecord): VerificationToken => ({
  token: row.token,
  userId: row.user_id,
  tenant: row.tenant_id,
  expiresAt: row.expires_at,
  createdAt: row.created_at,
});

/** The tenant of an archived job: its payload's `$tenant` (`TENANT_FIELD` of @ceres/queues), `default` when none. */
const TENANT_OF_PAYLOAD = `COALESCE(payload->>'$tenant', '${DEFAULT_TENANT}')`;

/** A pooled connection and the typed queries the apps use. The pool connects lazily. */
export function createDb(databaseUrl: string, options: CreateDbOptions = {}): Db {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.maxConnections ?? 5,
    application_name: options.applicationName ?? 'ceres',
    connectionTimeoutMillis: 5_000,
  });
  // An idle client losing its server emits on the pool; without a listener Node would crash.
  pool.on('error', () => {});

  const tokens: TokenStore = {
    async find(token) {
      const { rows } = await pool.query<TokenRecord>('SELECT * FROM verification_tokens WHERE token = $1', [token]);
      return rows[0] ? toToken(rows[0]) : null;
    },
    async findValid(token, now) {
      const { rows } = await pool.query<TokenRecord>('SELECT * FROM verification_tokens WHERE token = $1 AND expires_at > $2', [
        token,
        now,
      ]);
      return rows[0] ? toToken(rows[0]) : null;
    },
    async insert({ token, userId, expiresAt, tenant = DEFAULT_TENANT }) {
      await pool.query('INSERT INTO verification_tokens (token, user_id, expires_at, tenant_id) VALUES ($1, $2, $3, $4)', [
        token,
        userId,
        expiresAt,
        tenant,
      ]);
    },
    async deleteExpired(now) {
      const result = await pool.query('DELETE FROM verification_tokens WHERE expires_at <= $1', [now]);
      return result.rowCount ?? 0;
    },
    async deleteForUser(userId, tenant = DEFAULT_TENANT) {
      const result = await pool.query('DELETE FROM verification_tokens WHERE tenant_id = $2 AND user_id = $1', [userId, tenant]);
      return result.rowCount ?? 0;
    },
  };

  const failedJobs: FailedJobStore = {
    async archive(row) {
      const result = await pool.query(
        `INSERT INTO failed_jobs (queue, job_name, job_id, payload, error, stacktrace, attempts_made, failed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT ON CONSTRAINT failed_jobs_final_failure_key DO NOTHING`,
        [
          storableString(row.queue),
          storableString(row.jobName),
          storableString(row.jobId),
          storableJson(row.payload),
          storableString(row.error),
          row.stacktrace == null ? null : storableString(row.stacktrace),
          row.attemptsMade,
          row.failedAt,
        ],
      );
      return result.rowCount === 1;
    },
    async archiveMany(rows) {
      if (rows.length === 0) return 0;
      const result = await pool.query(
        `INSERT INTO failed_jobs (queue, job_name, job_id, payload, error, stacktrace, attempts_made, failed_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::text[], $7::int[], $8::timestamptz[])
         ON CONFLICT ON CONSTRAINT failed_jobs_final_failure_key DO NOTHING`,
        [
          rows.map((row) => storableString(row.queue)),
          rows.map((row) => storableString(row.jobName)),
          rows.map((row) => storableString(row.jobId)),
          rows.map((row) => storableJson(row.payload)),
          rows.map((row) => storableString(row.error)),
          rows.map((row) => (row.stacktrace == null ? null : storableString(row.stacktrace))),
          rows.map((row) => row.attemptsMade),
          rows.map((row) => row.failedAt),
        ],
      );
      return result.rowCount ?? 0;
    },
    async has({ queue, jobId, failedAt }) {
      const { rowCount } = await pool.query('SELECT 1 FROM failed_jobs WHERE queue = $1 AND job_id = $2 AND failed_at = $3', [
        storableString(queue),
        storableString(jobId),
        failedAt,
      ]);
      return (rowCount ?? 0) > 0;
    },
    async archivedAmong(queue, keys) {
      if (keys.length === 0) return new Set();
      const { rows } = await pool.query<{ index: number }>(
        `SELECT k.index::int AS index
           FROM unnest($2::text[], $3::timestamptz[]) WITH ORDINALITY AS k(job_id, failed_at, index)
           JOIN failed_jobs f ON f.queue = $1 AND f.job_id = k.job_id AND f.failed_at = k.failed_at`,
        [storableString(queue), keys.map((key) => storableString(key.jobId)), keys.map((key) => key.failedAt)],
      );
      return new Set(rows.map((row) => row.index - 1));
    },
    async list({ queue, jobId }) {
      const { rows } = await pool.query<FailedJobRecord>(
        `SELECT * FROM failed_jobs WHERE queue = $1 AND ($2::text IS NULL OR job_id = $2)
         ORDER BY failed_at DESC, id DESC`,
        [queue, jobId ?? null],
      );
      return rows.map((row) => ({
        id: row.id,
        queue: row.queue,
        jobName: row.job_name,
        jobId: row.job_id,
        payload: row.payload,
        error: row.error,
        stacktrace: row.stacktrace,
        attemptsMade: row.attempts_made,
        failedAt: row.failed_at,
      }));
    },
    async countSince(since) {
      const { rows } = await pool.query<{ queue: string; count: number }>(
        'SELECT queue, count(*) AS count FROM failed_jobs WHERE failed_at >= $1 GROUP BY queue',
        [since],
      );
      return Object.fromEntries(rows.map((row) => [row.queue, row.count]));
    },
    async topReasonsSince(since, limit) {
      const { rows } = await pool.query<FailureReason>(
        `SELECT queue, error AS reason, count(*) AS count FROM failed_jobs WHERE failed_at >= $1
         GROUP BY queue, error ORDER BY count(*) DESC, queue, error LIMIT $2`,
        [since, limit],
      );
      return rows;
    },
    async purgeFailedBefore(cutoff) {
      const result = await pool.query('DELETE FROM failed_jobs WHERE failed_at < $1', [cutoff]);
      return result.rowCount ?? 0;
    },
    async deleteForUser(userId, tenant = DEFAULT_TENANT) {
      const result = await pool.query(`DELETE FROM failed_jobs WHERE payload->>'userId' = $1 AND ${TENANT_OF_PAYLOAD} = $2`, [
        userId,
        tenant,
      ]);
      return result.rowCount ?? 0;
    },
    async countSinceByTenant(since, { tenants } = {}) {
      const { rows } = await pool.query<{ tenant: string; queue: string; count: number }>(
        `SELECT ${TENANT_OF_PAYLOAD} AS tenant, queue, count(*) AS count FROM failed_jobs
          WHERE failed_at >= $1 AND ($2::text[] IS NULL OR ${TENANT_OF_PAYLOAD} = ANY($2::text[]))
          GROUP BY 1, 2`,
        [since, tenants ?? null],
      );
      const byTenant: Record<string, Record<string, number>> = {};
      for (const row of rows) (byTenant[row.tenant] ??= {})[row.queue] = row.count;
      return byTenant;
    },
    async topReasonsByTenantSince(since, tenants, limit) {
      const { rows } = await pool.query<FailureReason & { tenant: string }>(
        `SELECT tenant, queue, reason, count FROM (
           SELECT ${TENANT_OF_PAYLOAD} AS tenant, queue, error AS reason, count(*) AS count,
                  row_number() OVER (PARTITION BY ${TENANT_OF_PAYLOAD} ORDER BY count(*) DESC, queue, error) AS rank
             FROM failed_jobs WHERE failed_at >= $1 AND ${TENANT_OF_PAYLOAD} = ANY($2::text[])
            GROUP BY 1, queue, error) ranked
          WHERE rank <= $3 ORDER BY tenant, rank`,
        [since, tenants, limit],
      );
      const byTenant: Record<string, FailureReason[]> = {};
      for (const { tenant, ...reason } of rows) (byTenant[tenant] ??= []).push(reason);
      return byTenant;
    },
    async delete({ queue, jobId, failedAt }) {
      const result = await pool.query('DELETE FROM failed_jobs WHERE queue = $1 AND job_id = $2 AND failed_at = $3', [
        storableString(queue),
        storableString(jobId),
        failedAt,
      ]);
      return (result.rowCount ?? 0) > 0;
    },
  };

  const sentMails: SentMailStore = {
    async record({ queue, jobId, jobCreatedAt, messageId }) {
      const result = await pool.query(
        `INSERT INTO sent_mails (queue, job_id, job_created_at, message_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (queue, job_id, job_created_at) DO UPDATE
           SET message_id = EXCLUDED.message_id, sending_attempt = NULL, sending_stalled = NULL, sent_at = now()
           WHERE sent_mails.sending_attempt IS NOT NULL`,
        [storableString(queue), storableString(jobId), jobCreatedAt, storableString(messageId)],
      );
      return result.rowCount === 1;
    },
    async find({ queue, jobId, jobCreatedAt }) {
      const { rows } = await pool.query<{ message_id: string }>(
        'SELECT message_id FROM sent_mails WHERE queue = $1 AND job_id = $2 AND job_created_at = $3 AND sending_attempt IS NULL',
        [storableString(queue), storableString(jobId), jobCreatedAt],
      );
      return rows[0]?.message_id ?? null;
    },
    async intend({ queue, jobId, jobCreatedAt, messageId, run }) {
      const result = await pool.query(
        `INSERT INTO sent_mails (queue, job_id, job_created_at, message_id, sending_attempt, sending_stalled) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (queue, job_id, job_created_at) DO UPDATE
           SET message_id = EXCLUDED.message_id, sending_attempt = EXCLUDED.sending_attempt, sending_stalled = EXCLUDED.sending_stalled, sent_at = now()
           WHERE sent_mails.sending_attempt IS NOT NULL`,
        [storableString(queue), storableString(jobId), jobCreatedAt, storableString(messageId), run.attempt, run.stalled],
      );
      return result.rowCount === 1;
    },
    async lookup({ queue, jobId, jobCreatedAt }) {
      const { rows } = await pool.query<{ message_id: string; sending_attempt: number | null; sending_stalled: number | null }>(
        'SELECT message_id, sending_attempt, sending_stalled FROM sent_mails WHERE queue = $1 AND job_id = $2 AND job_created_at = $3',
        [storableString(queue), storableString(jobId), jobCreatedAt],
      );
      const row = rows[0];
      if (!row) return null;
      const sending = row.sending_attempt === null ? null : { attempt: row.sending_attempt, stalled: row.sending_stalled ?? 0 };
      return { messageId: row.message_id, sending };
    },
    async deleteSentBefore(before) {
      const result = await pool.query('DELETE FROM sent_mails WHERE sent_at < $1', [before]);
      return result.rowCount ?? 0;
    },
    async deleteMatching(jobIdPatterns) {
      if (jobIdPatterns.length === 0) return 0;
      const result = await pool.query('DELETE FROM sent_mails WHERE job_id ~ ANY($1::text[])', [jobIdPatterns]);
      return result.rowCount ?? 0;
    },
    async countSinceByTenant(since, tenants) {
      // A queue name never holds '@' and a tenant id is [a-z0-9-]: only a scoped id starts so.
      const { rows } = await pool.query<{ tenant: string; count: number }>(
        `SELECT tenant, count(*) AS count FROM (
           SELECT COALESCE(substring(job_id FROM '^([a-z0-9-]{1,40})@'), '${DEFAULT_TENANT}') AS tenant
             FROM sent_mails WHERE sent_at >= $1 AND sending_attempt IS NULL) mails
          WHERE tenant = ANY($2::text[]) GROUP BY tenant`,
        [since, tenants],
      );
      return Object.fromEntries(rows.map((row) => [row.tenant, row.count]));
    },
  };

  const hashedTokenStores = new Map<string, HashedTokenStore>();
  let closed = false;
  return {
    pool,
    tokens,
    failedJobs,
    sentMails,
    newsletter: createNewsletterStore(pool),
    tenants: createTenantStore(pool),
    accounts: createAccountStore(pool),
    audit: createAuditLog(pool),
    jobLedger: createJobLedgerStore(pool),
    apiTokens: createApiTokenStore(pool),
    hashedTokens(table) {
      let store = hashedTokenStores.get(table);
      if (!store) hashedTokenStores.set(table, (store = createHashedTokenStore(pool, table)));
      return store;
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
