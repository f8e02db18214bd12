import { DEFAULT_TENANT } from '@ceres/app-kit';
import type pg from 'pg';
import { storableString } from './storable';

export type LedgerState = 'completed' | 'failed';

/** One job outcome, as the worker records it (migration 014). */
export interface LedgerRow {
  queue: string;
  jobType: string;
  jobId: string;
  tenant: string;
  /** The payload field `key` comes from (the job type's `ledgerKey`), or null. */
  keyField: string | null;
  key: string | null;
  state: LedgerState;
  enqueuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date;
  attempts: number;
  /** The processor's result as JSON text, only for job types with `keepResult`. */
  result: string | null;
  /** The masked error of a failed job. */
  error: string | null;
}

/** A row as read back: with its ledger id, its result parsed. */
export interface LedgerRecord extends Omit<LedgerRow, 'result'> {
  id: number;
  result: unknown;
}

/** Where a page of a search ends: the last row's finish time and id (rows are newest first). */
export interface LedgerCursor {
  finishedAt: Date;
  id: number;
}

export interface LedgerFilter {
  queue?: string;
  jobType?: string;
  key?: string;
  state?: LedgerState;
  /** Only this tenant's rows (a tenant-scoped principal, or a filter). */
  tenant?: string;
  /** Finished at or after. */
  since?: Date;
  /** Finished before. */
  until?: Date;
  /** The error contains this text (case-insensitive). */
  error?: string;
  /** The rows after this one (the previous page's last). */
  after?: LedgerCursor;
  limit: number;
}

export interface JobLedgerStore {
  /** Inserts the rows in one statement, each once (`job_ledger_once`); returns how many were new. */
  insertMany(rows: readonly LedgerRow[]): Promise<number>;
  /** Rows matching `filter`, newest first (finished_at, then id). */
  search(filter: LedgerFilter): Promise<LedgerRecord[]>;
  /** The newest row of one job id in `queue`, or null (the API's status once Redis dropped the job). */
  latest(queue: string, jobId: string): Promise<LedgerRecord | null>;
  /** Deletes rows finished before `cutoff`, `batch` at a time (retention); returns how many. */
  purgeBefore(cutoff: Date, batch?: number): Promise<number>;
  /** Deletes the rows keyed by `userId` of `tenant` (erasure); returns how many. */
  deleteForUser(userId: string, tenant?: string): Promise<number>;
}

type Record_ = {
  id: number;
  queue: string;
  job_type: string;
  job_id: string;
  tenant_id: string;
  key_field: string | null;
  key: string | null;
  state: LedgerState;
  enqueued_at: Date;
  started_at: Date | null;
  finished_at: Date;
  attempts: number;
  result: unknown;
  error: string | null;
};

const toRecord = (row: Record_): LedgerRecord => ({
  id: row.id,
  queue: row.queue,
  jobType: row.job_type,
  jobId: row.job_id,
  tenant: row.tenant_id,
  keyField: row.key_field,
  key: row.key,
  state: row.state,
  enqueuedAt: row.enqueued_at,
  startedAt: row.started_at,
  finishedAt: row.finished_at,
  attempts: row.attempts,
  result: row.result,
  error: row.error,
});

const COLUMNS =
  'id, queue, job_type, job_id, tenant_id, key_field, key, state, enqueued_at, started_at, finished_at, attempts, result, error';

/** `text` as a literal inside an ILIKE pattern. */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, '\\$&');

export function createJobLedgerStore(pool: pg.Pool): JobLedgerStore {
  return {
    async insertMany(rows) {
      if (rows.length === 0) return 0;
      const text = (value: string | null) => (value === null ? null : storableString(value));
      const result = await pool.query(
        `INSERT INTO job_ledger (queue, job_type, job_id, tenant_id, key_field, key, state, enqueued_at, started_at, finished_at, attempts, result, error)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                              $8::timestamptz[], $9::timestamptz[], $10::timestamptz[], $11::int[], $12::jsonb[], $13::text[])
         ON CONFLICT ON CONSTRAINT job_ledger_once DO NOTHING`,
        [
          rows.map((row) => storableString(row.queue)),
          rows.map((row) => storableString(row.jobType)),
          rows.map((row) => storableString(row.jobId)),
          rows.map((row) => storableString(row.tenant)),
          rows.map((row) => text(row.keyField)),
          rows.map((row) => text(row.key)),
          rows.map((row) => row.state),
          rows.map((row) => row.enqueuedAt),
          rows.map((row) => row.startedAt),
          rows.map((row) => row.finishedAt),
          rows.map((row) => row.attempts),
          rows.map((row) => row.result),
          rows.map((row) => text(row.error)),
        ],
      );
      return result.rowCount ?? 0;
    },
    async search(filter) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (clause: (param: string) => string, value: unknown) => {
        params.push(value);
        where.push(clause(`$${params.length}`));
      };
      if (filter.key !== undefined) add((p) => `key = ${p}`, filter.key);
      if (filter.queue !== undefined) add((p) => `queue = ${p}`, filter.queue);
      if (filter.jobType !== undefined) add((p) => `job_type = ${p}`, filter.jobType);
      if (filter.state !== undefined) add((p) => `state = ${p}`, filter.state);
      if (filter.tenant !== undefined) add((p) => `tenant_id = ${p}`, filter.tenant);
      if (filter.since !== undefined) add((p) => `finished_at >= ${p}`, filter.since);
      if (filter.until !== undefined) add((p) => `finished_at < ${p}`, filter.until);
      if (filter.error !== undefined) add((p) => `error ILIKE ${p}`, `%${likeLiteral(filter.error)}%`);
      if (filter.after !== undefined) {
        params.push(filter.after.finishedAt, filter.after.id);
        where.push(`(finished_at, id) < ($${params.length - 1}, $${params.length})`);
      }
      params.push(filter.limit);
      const { rows } = await pool.query<Record_>(
        `SELECT ${COLUMNS} FROM job_ledger ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
          ORDER BY finished_at DESC, id DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(toRecord);
    },
    async latest(queue, jobId) {
      const { rows } = await pool.query<Record_>(
        `SELECT ${COLUMNS} FROM job_ledger WHERE queue = $1 AND job_id = $2 ORDER BY finished_at DESC, id DESC LIMIT 1`,
        [storableString(queue), storableString(jobId)],
      );
      return rows[0] ? toRecord(rows[0]) : null;
    },
    async purgeBefore(cutoff, batch = 10_000) {
      // In slices, so a first purge of a big backlog holds no long lock nor one huge transaction.
      let purged = 0;
      for (;;) {
        const result = await pool.query('DELETE FROM job_ledger WHERE id IN (SELECT id FROM job_ledger WHERE finished_at < $1 LIMIT $2)', [
          cutoff,
          batch,
        ]);
        purged += result.rowCount ?? 0;
        if ((result.rowCount ?? 0) < batch) return purged;
      }
    },
    async deleteForUser(userId, tenant = DEFAULT_TENANT) {
      const result = await pool.query("DELETE FROM job_ledger WHERE key = $1 AND key_field = 'userId' AND tenant_id = $2", [
        userId,
        tenant,
      ]);
      return result.rowCount ?? 0;
    },
  };
}
