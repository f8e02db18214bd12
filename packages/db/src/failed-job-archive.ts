import type pg from 'pg';
import type { FailedJobRecord } from './db';

/** One archived final failure, as the operator's tools read it. */
export interface ArchivedFailure {
  id: number;
  queue: string;
  jobName: string;
  jobId: string;
  payload: unknown;
  error: string;
  stacktrace: string | null;
  attemptsMade: number;
  failedAt: Date;
  archivedAt: Date;
  /** When `failed retry` re-enqueued it; null while it has not been replayed. */
  retriedAt: Date | null;
  /** The job id it was re-enqueued as. */
  retriedJobId: string | null;
}

export interface ArchiveFilter {
  queue?: string;
  /** Only failures at or after this instant. */
  since?: Date;
}

/**
 * The operator's side of `failed_jobs` (list, replay, forget, flush), on the pool of a
 * `createDb()`. Replays claim a row first (`claimRetry`), so it goes back to a queue at most once.
 */
export interface FailedJobArchive {
  /** Newest first, at most `limit` rows. */
  list(filter: ArchiveFilter & { limit: number }): Promise<ArchivedFailure[]>;
  get(id: number): Promise<ArchivedFailure | null>;
  /** The ids of the rows not replayed yet, oldest first. */
  notRetried(filter: ArchiveFilter): Promise<number[]>;
  /** Marks the row as retried if nobody did yet; returns it then, else null. */
  claimRetry(id: number): Promise<ArchivedFailure | null>;
  /** Records the job id the claimed row went back as. */
  completeRetry(id: number, jobId: string): Promise<void>;
  /** Undoes a claim whose enqueue failed, so the row can be replayed later. */
  releaseRetry(id: number): Promise<void>;
  /** Deletes one row; false when there is none with this id. */
  forget(id: number): Promise<boolean>;
  /** Deletes every row, or those that failed before `before`; returns how many. */
  flush(options?: { before?: Date }): Promise<number>;
}

const toFailure = (row: FailedJobRecord): ArchivedFailure => ({
  id: row.id,
  queue: row.queue,
  jobName: row.job_name,
  jobId: row.job_id,
  payload: row.payload,
  error: row.error,
  stacktrace: row.stacktrace,
  attemptsMade: row.attempts_made,
  failedAt: row.failed_at,
  archivedAt: row.archived_at,
  retriedAt: row.retried_at,
  retriedJobId: row.retried_job_id,
});

export function createFailedJobArchive(pool: pg.Pool): FailedJobArchive {
  return {
    async list({ queue, since, limit }) {
      const { rows } = await pool.query<FailedJobRecord>(
        `SELECT * FROM failed_jobs WHERE ($1::text IS NULL OR queue = $1) AND ($2::timestamptz IS NULL OR failed_at >= $2)
         ORDER BY failed_at DESC, id DESC LIMIT $3`,
        [queue ?? null, since ?? null, limit],
      );
      return rows.map(toFailure);
    },
    async get(id) {
      const { rows } = await pool.query<FailedJobRecord>('SELECT * FROM failed_jobs WHERE id = $1', [id]);
      return rows[0] ? toFailure(rows[0]) : null;
    },
    async notRetried({ queue, since }) {
      const { rows } = await pool.query<{ id: number }>(
        `SELECT id FROM failed_jobs WHERE retried_at IS NULL AND ($1::text IS NULL OR queue = $1)
         AND ($2::timestamptz IS NULL OR failed_at >= $2) ORDER BY failed_at, id`,
        [queue ?? null, since ?? null],
      );
      return rows.map((row) => row.id);
    },
    async claimRetry(id) {
      const { rows } = await pool.query<FailedJobRecord>(
        'UPDATE failed_jobs SET retried_at = now() WHERE id = $1 AND retried_at IS NULL RETURNING *',
        [id],
      );
      return rows[0] ? toFailure(rows[0]) : null;
    },
    async completeRetry(id, jobId) {
      await pool.query('UPDATE failed_jobs SET retried_job_id = $2 WHERE id = $1', [id, jobId]);
    },
    async releaseRetry(id) {
      await pool.query('UPDATE failed_jobs SET retried_at = NULL, retried_job_id = NULL WHERE id = $1', [id]);
    },
    async forget(id) {
      const result = await pool.query('DELETE FROM failed_jobs WHERE id = $1', [id]);
      return result.rowCount === 1;
    },
    async flush({ before } = {}) {
      const result = await pool.query('DELETE FROM failed_jobs WHERE ($1::timestamptz IS NULL OR failed_at < $1)', [before ?? null]);
      return result.rowCount ?? 0;
    },
  };
}
