import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { storableJson, type JobLedgerStore, type LedgerRow } from '@ceres/db';
import { LEDGER_SETTINGS, tenantOfData, type CeresStore } from '@ceres/queues';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { errorSummary, redactEmails } from './redact';

/*
 * The job ledger (issue 29): every job's outcome — completed, or failed for good — as one row of
 * PostgreSQL's `job_ledger`, written off the job's path:
 *
 *   job finishes → a row in this process's memory (a few property reads, one array push)
 *   every FLUSH_MS → the rows as one batch, one script call onto a bounded Redis list
 *   every DRAIN_MS → one process (a lock in Redis) reads the list's first batches, inserts their
 *                    rows in one multi-row INSERT … ON CONFLICT DO NOTHING, and only then removes
 *                    them from the list
 *
 * PostgreSQL down: the batches wait in Redis (not in a process's memory), up to
 * JOB_LEDGER_MAX_PENDING_ROWS rows; beyond, a new batch is dropped, counted in Redis
 * (`ledgerBacklog().dropped`) and logged. A row is written once: the table's unique key is the
 * queue, the job id and its finish time, so a batch written twice (a drainer that lost its lock
 * mid-way) inserts nothing the second time.
 */

/** How often a process pushes its rows to Redis. */
export const LEDGER_FLUSH_MS = 1_000;
/** How often a process tries to drain the list into PostgreSQL. */
export const LEDGER_DRAIN_MS = 1_000;
/** Rows per batch at most (one list element). */
const MAX_BATCH_ROWS = 1_000;
/** Batches one drain step reads and inserts at once. */
const DRAIN_BATCHES = 20;
/** The drain lock outlives a stuck drainer by this much; renewed at each step. */
const DRAIN_LOCK_MS = 30_000;
/** Rows kept in memory while Redis refuses the pushes; beyond, the oldest are dropped (Redis down stops the jobs too). */
const MAX_MEMORY_ROWS = 20_000;
/** A result bigger than this (JSON characters) is kept as `{ truncated: true, chars }`. */
const MAX_RESULT_CHARS = 4_096;
/** A surrogate escape in JSON text: JSON.stringify writes lone surrogates so (a false alarm costs the slow path only). */
const UNPAIRED_ESCAPE = /\\ud[89a-f]/i;
/** The error text kept, at most. */
const MAX_ERROR_CHARS = 1_000;

/**
 * One row on its way (the list's element format): positional, so that a batch of a thousand stays
 * small in Redis. `result` is the processor's value (made storable by the drainer), `error` masked.
 */
type WireRow = [
  queue: string,
  jobType: string,
  jobId: string,
  tenant: string,
  keyField: string | null,
  key: string | null,
  state: 'completed' | 'failed',
  enqueuedAt: number,
  startedAt: number | null,
  finishedAt: number,
  attempts: number,
  result: unknown,
  error: string | null,
];

/** A result as jsonb text: NULs and lone surrogates replaced (only when there are any), a big one summarised. */
function storableResult(result: unknown): string | null {
  if (result === null || result === undefined) return null;
  let text = JSON.stringify(result);
  // JSON.stringify writes a NUL or a lone surrogate as an escape (a false alarm costs the slow path only).
  if (text.includes('\\u0000') || UNPAIRED_ESCAPE.test(text)) text = storableJson(result);
  return text.length > MAX_RESULT_CHARS ? JSON.stringify({ truncated: true, chars: text.length }) : text;
}

function isWireRow(row: unknown): row is WireRow {
  return (
    Array.isArray(row) &&
    row.length === 13 &&
    typeof row[0] === 'string' &&
    typeof row[1] === 'string' &&
    typeof row[2] === 'string' &&
    typeof row[3] === 'string' &&
    (row[6] === 'completed' || row[6] === 'failed') &&
    typeof row[7] === 'number' &&
    typeof row[9] === 'number' &&
    typeof row[10] === 'number'
  );
}

export function fromWire(row: WireRow): LedgerRow {
  const [queue, jobType, jobId, tenant, keyField, key, state, enqueuedAt, startedAt, finishedAt, attempts, result, error] = row;
  return {
    queue,
    jobType,
    jobId,
    tenant,
    keyField,
    key,
    state,
    enqueuedAt: new Date(enqueuedAt),
    startedAt: startedAt === null ? null : new Date(startedAt),
    finishedAt: new Date(finishedAt),
    attempts,
    result: storableResult(result),
    error,
  };
}

/** The row of a job that just finished (`completed`, or `failed` for good). */
export function ledgerRowOf(job: Job, state: 'completed' | 'failed'): WireRow {
  const type = `${job.queueName}/${job.name}`;
  const settings = LEDGER_SETTINGS.get(type);
  const keyField = settings?.ledgerKey ?? null;
  const value: unknown = keyField === null ? undefined : (job.data as Record<string, unknown> | undefined)?.[keyField];
  // Kept as the object: it is serialised with its batch, and made storable by the drainer.
  const result = state === 'completed' && settings?.keepResult ? (job.returnvalue ?? null) : null;
  return [
    job.queueName,
    job.name,
    String(job.id),
    tenantOfData(job.data),
    typeof value === 'string' ? keyField : null,
    typeof value === 'string' ? value : null,
    state,
    job.timestamp,
    job.processedOn ?? null,
    job.finishedOn ?? Date.now(),
    job.attemptsMade,
    result,
    state === 'failed' ? redactEmails(job.failedReason || 'unknown reason').slice(0, MAX_ERROR_CHARS) : null,
  ];
}

export interface JobLedgerOptions {
  store: Pick<CeresStore, 'pushLedgerBatch' | 'takeLedgerBatches' | 'removeLedgerBatches' | 'releaseLedgerLock'>;
  db: Pick<JobLedgerStore, 'insertMany'>;
  logger: Logger;
  /** `JOB_LEDGER_MAX_PENDING_ROWS`. */
  maxPendingRows: number;
  /** @defaultValue {@link LEDGER_FLUSH_MS} */
  flushMs?: number;
  /** @defaultValue {@link LEDGER_DRAIN_MS} */
  drainMs?: number;
}

export interface JobLedgerEvents {
  /** Rows pushed to Redis. */
  flushed: [rows: number];
  /**
   * Rows lost: refused at the Redis bound (`bound`), beyond the memory bound while Redis refused
   * pushes (`memory`), or a batch in Redis that could not be read (`unreadable`, rows unknown: 0).
   */
  dropped: [rows: number, where: 'bound' | 'memory' | 'unreadable'];
  /** Rows moved from Redis into PostgreSQL by this process (`inserted`: new ones; the others were there already). */
  drained: [rows: number, inserted: number];
}

export type JobLedgerState = 'created' | 'running' | 'stopped';

/** A worker process's side of the ledger: its buffer, its flush, and its turn at draining. */
export class JobLedger extends EventEmitter<JobLedgerEvents> {
  private rows: WireRow[] = [];
  private state: JobLedgerState = 'created';
  private flushTimer: NodeJS.Timeout | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private draining: Promise<void> | undefined;
  /** Who holds the drain lock, in Redis: this process. */
  private readonly holder = `${process.pid}:${randomUUID()}`;
  /** Logged once per outage, not once per tick. */
  private pushFailing = false;
  private drainFailing = false;

  constructor(private readonly options: JobLedgerOptions) {
    super();
  }

  get status(): JobLedgerState {
    return this.state;
  }

  /** Rows in this process's memory, not yet in Redis. */
  get buffered(): number {
    return this.rows.length;
  }

  /** The job path's part: one row appended in memory. */
  record(job: Job, state: 'completed' | 'failed'): void {
    if (this.state === 'stopped') return;
    this.rows.push(ledgerRowOf(job, state));
  }

  start(): this {
    if (this.state !== 'created') return this;
    this.state = 'running';
    this.flushTimer = setInterval(() => void this.flush(), this.options.flushMs ?? LEDGER_FLUSH_MS);
    this.drainTimer = setInterval(() => void this.drain(), this.options.drainMs ?? LEDGER_DRAIN_MS);
    this.flushTimer.unref();
    this.drainTimer.unref();
    return this;
  }

  /** Pushes the buffered rows to Redis, a batch per script call; rows whose push failed stay for the next flush. */
  flush(): Promise<void> {
    this.flushing ??= this.pushAll().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async pushAll(): Promise<void> {
    const { store, logger, maxPendingRows } = this.options;
    while (this.rows.length > 0) {
      const batch = this.rows.slice(0, MAX_BATCH_ROWS);
      let stored: boolean;
      try {
        stored = await store.pushLedgerBatch(JSON.stringify(batch), batch.length, maxPendingRows);
      } catch (error) {
        if (!this.pushFailing)
          logger.warn({ err: errorSummary(error), rows: this.rows.length }, 'job ledger: cannot push rows to Redis; kept in memory');
        this.pushFailing = true;
        const over = this.rows.length - MAX_MEMORY_ROWS;
        if (over > 0) {
          this.rows.splice(0, over);
          logger.error({ rows: over }, 'job ledger: rows dropped, Redis refused them and the memory bound is reached');
          this.emit('dropped', over, 'memory');
        }
        return;
      }
      this.rows.splice(0, batch.length);
      if (this.pushFailing) logger.info('job ledger: pushing rows to Redis again');
      this.pushFailing = false;
      if (stored) this.emit('flushed', batch.length);
      else {
        logger.error(
          { rows: batch.length, maxPendingRows },
          'job ledger: rows dropped, the Redis list is full (JOB_LEDGER_MAX_PENDING_ROWS): is PostgreSQL down?',
        );
        this.emit('dropped', batch.length, 'bound');
      }
    }
  }

  /**
   * One turn at draining: when the lock is free (or this process's), batches are read, inserted
   * into PostgreSQL and then removed, until the list is empty; a failed insert leaves them there.
   */
  drain(): Promise<void> {
    this.draining ??= this.drainAll().finally(() => (this.draining = undefined));
    return this.draining;
  }

  private async drainAll(): Promise<void> {
    const { store, db, logger } = this.options;
    try {
      for (;;) {
        const batches = await store.takeLedgerBatches(this.holder, DRAIN_LOCK_MS, DRAIN_BATCHES);
        if (batches.length === 0) return;
        const rows = batches.flatMap((batch) => this.readBatch(batch));
        const inserted = await db.insertMany(rows);
        const removed = await store.removeLedgerBatches(this.holder, batches.length);
        if (this.drainFailing) logger.info('job ledger: writing to PostgreSQL again');
        this.drainFailing = false;
        this.emit('drained', rows.length, inserted);
        // Lost the lock meanwhile: another process drains (and writes these rows, once).
        if (!removed) return;
      }
    } catch (error) {
      if (!this.drainFailing) logger.warn({ err: errorSummary(error) }, 'job ledger: cannot move rows into PostgreSQL; they wait in Redis');
      this.drainFailing = true;
    } finally {
      await store.releaseLedgerLock(this.holder).catch(() => {});
    }
  }

  /** A batch's rows; one that cannot be read (written by hand, truncated) is logged and dropped, not retried for ever. */
  private readBatch(batch: string): LedgerRow[] {
    try {
      const rows = JSON.parse(batch) as unknown;
      if (!Array.isArray(rows) || !rows.every(isWireRow)) throw new Error('not a batch of ledger rows');
      return rows.map(fromWire);
    } catch (error) {
      this.options.logger.error({ err: errorSummary(error), chars: batch.length }, 'job ledger: an unreadable batch dropped');
      this.emit('dropped', 0, 'unreadable');
      return [];
    }
  }

  /** Stops the timers, pushes what is buffered, and takes one last turn at draining (graceful stop). */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    clearInterval(this.flushTimer);
    clearInterval(this.drainTimer);
    await this.flushing;
    await this.flush();
    await this.draining;
    await this.drain();
  }
}
