import { maskEmails } from '@ceres/app-kit';
import type { QueueClient } from '../client';
import { JOB_TYPES, isQueueName, LEDGER_SETTINGS, QUEUE_NAMES, type QueueName } from '../registry';
import { scopedJobId, tenantOfData } from '../tenant';

/*
 * Job search (issue 29): the job ledger in PostgreSQL (every finished job, kept
 * JOB_LEDGER_RETENTION_DAYS) and, for a search by key, the jobs still in flight in Redis. The one
 * operation behind `ceres-jobs jobs search` and queues-ui's `GET /api/jobs/search`.
 */

/** The states a search may ask for: the ledger's two, and the in-flight ones read from Redis. */
export const SEARCH_STATES = ['completed', 'failed', 'waiting', 'delayed', 'active'] as const;
export type SearchState = (typeof SEARCH_STATES)[number];
const IN_FLIGHT: ReadonlySet<string> = new Set(['waiting', 'delayed', 'active']);

/** The most rows one page returns. */
export const MAX_SEARCH_PAGE = 1000;

/** A bad search parameter; `field` names it (`key`, `type`, `cursor`, …). */
export class JobSearchInputError extends Error {
  override name = 'JobSearchInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface JobSearchFilter {
  queue?: string;
  /** A job name (`welcome`) or a job type (`email/welcome`). */
  type?: string;
  /** The ledger key: a user id, a campaign id. */
  key?: string;
  state?: string;
  since?: Date;
  until?: Date;
  /** Text the (masked) error contains. */
  error?: string;
  /** Only this tenant's jobs (a tenant-scoped principal always gives its own). */
  tenant?: string;
  /** The previous page's `nextCursor`. */
  cursor?: string;
  limit: number;
}

/** What the search needs of PostgreSQL: `@ceres/db`'s `db.jobLedger` (this package does not depend on it). */
export interface LedgerSearchStore {
  search(filter: {
    queue?: string;
    jobType?: string;
    key?: string;
    state?: 'completed' | 'failed';
    tenant?: string;
    since?: Date;
    until?: Date;
    error?: string;
    after?: { finishedAt: Date; id: number };
    limit: number;
  }): Promise<
    Array<{
      id: number;
      queue: string;
      jobType: string;
      jobId: string;
      tenant: string;
      key: string | null;
      state: 'completed' | 'failed';
      enqueuedAt: Date;
      startedAt: Date | null;
      finishedAt: Date;
      attempts: number;
      result: unknown;
      error: string | null;
    }>
  >;
}

/** One job found: from the ledger (finished) or from Redis (in flight). Personal data masked. */
export interface FoundJob {
  source: 'ledger' | 'redis';
  queue: string;
  type: string;
  /** The id in Redis (a tenant's jobs carry the `<tenant>@` prefix). */
  jobId: string;
  tenant: string;
  key: string | null;
  state: string;
  enqueuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  attempts: number;
  result: unknown;
  error: string | null;
}

export interface JobSearchResult {
  /** Finished jobs, newest first. */
  jobs: FoundJob[];
  /** With a key, on the first page: the jobs still waiting, delayed or active with that key. */
  inFlight: FoundJob[];
  /** The `cursor` of the next page; null on the last one. */
  nextCursor: string | null;
}

export function encodeCursor(row: { finishedAt: Date; id: number }): string {
  return Buffer.from(`${row.finishedAt.getTime()}:${row.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { finishedAt: Date; id: number } {
  const match = /^(\d{1,15}):(\d{1,18})$/.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match || cursor.length > 64) throw new JobSearchInputError('cursor', 'cursor is not one this search returned (nextCursor)');
  return { finishedAt: new Date(Number(match[1])), id: Number(match[2]) };
}

/** Strings of a result, however deep, with their addresses masked. */
function maskDeep(value: unknown): unknown {
  if (typeof value === 'string') return maskEmails(value);
  if (Array.isArray(value)) return value.map(maskDeep);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([name, inner]) => [name, maskDeep(inner)]));
  return value;
}

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** The filter checked: known queue, type and state; `until` after `since`; the key one line. */
function check(filter: JobSearchFilter): { queue?: QueueName; jobType?: string; state?: SearchState } {
  let queue: QueueName | undefined;
  if (filter.queue !== undefined) {
    if (!isQueueName(filter.queue))
      throw new JobSearchInputError('queue', `unknown queue "${filter.queue.slice(0, 100)}"; known: ${QUEUE_NAMES.join(', ')}`);
    queue = filter.queue;
  }
  let jobType: string | undefined;
  if (filter.type !== undefined) {
    const [first, second] = filter.type.split('/', 2);
    const [typeQueue, job] = second === undefined ? [queue, first!] : [first, second];
    if (second !== undefined && queue !== undefined && typeQueue !== queue)
      throw new JobSearchInputError('type', `type ${filter.type.slice(0, 100)} is not of queue ${queue}`);
    if (!JOB_TYPES.some((entry) => entry.job === job && (typeQueue === undefined || entry.queue === typeQueue)))
      throw new JobSearchInputError('type', `unknown job type "${filter.type.slice(0, 100)}", e.g. email/welcome or welcome`);
    if (typeQueue !== undefined) queue = typeQueue as QueueName;
    jobType = job;
  }
  if (filter.state !== undefined && !(SEARCH_STATES as readonly string[]).includes(filter.state))
    throw new JobSearchInputError('state', `unknown state "${filter.state.slice(0, 40)}"; one of ${SEARCH_STATES.join(', ')}`);
  // eslint-disable-next-line no-control-regex
  if (filter.key !== undefined && (filter.key.length === 0 || filter.key.length > 256 || /[\u0000-\u001f\u007f]/.test(filter.key)))
    throw new JobSearchInputError('key', 'key must be 1 to 256 characters on one line');
  if (filter.error !== undefined && (filter.error.length === 0 || filter.error.length > 200))
    throw new JobSearchInputError('error', 'error must be 1 to 200 characters');
  if (filter.state !== undefined && IN_FLIGHT.has(filter.state)) {
    if (filter.key === undefined)
      throw new JobSearchInputError('state', `${filter.state} jobs are found by key only (give key); the queue listings show them all`);
    if (filter.since !== undefined || filter.until !== undefined || filter.error !== undefined || filter.cursor !== undefined)
      throw new JobSearchInputError(
        'state',
        `${filter.state} jobs have no finish time nor error: leave out since, until, error and cursor`,
      );
  }
  if (filter.since && filter.until && filter.until.getTime() <= filter.since.getTime())
    throw new JobSearchInputError('until', 'until must be after since');
  if (!Number.isInteger(filter.limit) || filter.limit < 1 || filter.limit > MAX_SEARCH_PAGE)
    throw new JobSearchInputError('limit', `limit must be a whole number from 1 to ${MAX_SEARCH_PAGE}`);
  return { queue, jobType, state: filter.state as SearchState | undefined };
}

/**
 * The jobs with ledger key `key` still in Redis and not finished, found without scanning: only the
 * job types whose job id is built from that same field (`email:welcome:<userId>`,
 * `newsletter:fan-out:<campaignId>`) have one id per key and tenant; one read of each such id.
 */
async function inFlightByKey(
  client: QueueClient,
  key: string,
  tenants: readonly string[],
  only: { queue?: QueueName; jobType?: string; state?: SearchState },
): Promise<FoundJob[]> {
  const candidates = JOB_TYPES.filter(
    ({ queue, job, type, definition }) =>
      definition.keyField !== undefined &&
      definition.keyField === LEDGER_SETTINGS.get(type)?.ledgerKey &&
      (only.queue === undefined || queue === only.queue) &&
      (only.jobType === undefined || job === only.jobType),
  );
  const reads = candidates.flatMap(({ queue, job }) =>
    tenants.map(async (tenant) => {
      const id = scopedJobId(tenant, `${queue}:${job}:${key}`);
      const bull = client.getQueue(queue);
      const [state, found] = await Promise.all([bull.getJobState(id), bull.getJob(id)]);
      const shown = state === 'prioritized' || state === 'waiting-children' ? 'waiting' : state;
      if (!found || !IN_FLIGHT.has(shown) || tenantOfData(found.data) !== tenant) return [];
      if (only.state !== undefined && only.state !== shown) return [];
      return [
        {
          source: 'redis' as const,
          queue,
          type: job,
          jobId: id,
          tenant,
          key,
          state: shown,
          enqueuedAt: iso(found.timestamp)!,
          startedAt: iso(found.processedOn),
          finishedAt: null,
          attempts: found.attemptsMade,
          result: null,
          error: found.failedReason ? maskEmails(found.failedReason) : null,
        },
      ];
    }),
  );
  return (await Promise.all(reads)).flat();
}

/**
 * Searches the ledger (newest first, keyset-paginated by `cursor`) and, with a key, on the first
 * page, the jobs with that key still in flight. `tenants` lists the tenants whose in-flight jobs
 * are looked up when the filter names none.
 */
export async function searchJobs(
  deps: { client: QueueClient; ledger: LedgerSearchStore; tenants: () => Promise<readonly string[]> },
  filter: JobSearchFilter,
): Promise<JobSearchResult> {
  const { queue, jobType, state } = check(filter);
  const after = filter.cursor === undefined ? undefined : decodeCursor(filter.cursor);
  const finishedState = state === 'completed' || state === 'failed' ? state : undefined;
  const rows =
    state !== undefined && finishedState === undefined
      ? []
      : await deps.ledger.search({
          queue,
          jobType,
          key: filter.key,
          state: finishedState,
          tenant: filter.tenant,
          since: filter.since,
          until: filter.until,
          error: filter.error,
          after,
          limit: filter.limit,
        });
  const jobs: FoundJob[] = rows.map((row) => ({
    source: 'ledger',
    queue: row.queue,
    type: row.jobType,
    jobId: row.jobId,
    tenant: row.tenant,
    key: row.key,
    state: row.state,
    enqueuedAt: row.enqueuedAt.toISOString(),
    startedAt: row.startedAt?.toISOString() ?? null,
    finishedAt: row.finishedAt.toISOString(),
    attempts: row.attempts,
    result: maskDeep(row.result),
    error: row.error === null ? null : maskEmails(row.error),
  }));
  const wantsInFlight =
    filter.key !== undefined &&
    after === undefined &&
    filter.error === undefined &&
    filter.since === undefined &&
    filter.until === undefined &&
    (state === undefined || IN_FLIGHT.has(state));
  const inFlight = wantsInFlight
    ? await inFlightByKey(deps.client, filter.key!, filter.tenant !== undefined ? [filter.tenant] : await deps.tenants(), {
        queue,
        jobType,
        state,
      })
    : [];
  const last = rows[rows.length - 1];
  return { jobs, inFlight, nextCursor: rows.length === filter.limit && last ? encodeCursor(last) : null };
}
