import { DEFAULT_TENANT, JobSearchInputError, searchJobs, type FoundJob, type JobSearchFilter } from '@ceres/queues';
import { UsageError } from '../errors';
import type { CliContext } from '../context';
import { maskData, maskText } from '../mask';
import { printJson, println, table, type Io } from '../output';
import type { Json, TenantFilter } from './queues';

/** The filter of `searchJobs`, as the parser reads it (`--tenant` is the CLI's own option). */
export interface SearchOptions extends Json, TenantFilter, Omit<JobSearchFilter, 'tenant'> {}

export const SEARCH_JSON_HELP = `
--json: { jobs: [job], inFlight: [job], nextCursor }. A job: { source ("ledger": finished; "redis": in
flight), queue, type, jobId, tenant, key, state, enqueuedAt, startedAt, finishedAt, attempts, result,
error }; errors and results masked. Page on with --cursor <nextCursor>.`;

/** A found job as the CLI prints it: masked again the CLI's way (results are data, errors text). */
const shown = (job: FoundJob): FoundJob => ({
  ...job,
  result: maskData(job.result),
  error: job.error === null ? null : maskText(job.error),
});

/**
 * `jobs search`: the job ledger in PostgreSQL (finished jobs, newest first, a page at a time) and,
 * with --key, the jobs with that key still in flight in Redis.
 */
export async function search(ctx: CliContext, io: Io, given: SearchOptions): Promise<number> {
  const tenant = await ctx.scopedTenant(given.tenant);
  const db = await ctx.database();
  const client = await ctx.queues();
  let found;
  try {
    found = await searchJobs(
      {
        client,
        ledger: db.jobLedger,
        tenants: async () => [DEFAULT_TENANT, ...(await db.tenants.list()).map((row) => row.id).filter((id) => id !== DEFAULT_TENANT)],
      },
      { ...given, tenant },
    );
  } catch (error) {
    if (error instanceof JobSearchInputError) throw new UsageError(`--${error.field}: ${error.message}`);
    throw error;
  }
  const jobs = found.jobs.map(shown);
  const inFlight = found.inFlight.map(shown);
  if (given.json) {
    printJson(io, { jobs, inFlight, nextCursor: found.nextCursor });
    return 0;
  }
  if (jobs.length === 0 && inFlight.length === 0) {
    println(io, 'no jobs found');
    return 0;
  }
  const rows = [...inFlight, ...jobs];
  println(
    io,
    table(
      ['queue', 'type', 'job id', 'tenant', 'key', 'state', 'attempts', 'enqueued', 'finished', 'error'],
      rows.map((job) => [
        job.queue,
        job.type,
        job.jobId,
        job.tenant,
        job.key ?? '-',
        job.state,
        job.attempts,
        job.enqueuedAt,
        job.finishedAt ?? '-',
        (job.error ?? '').slice(0, 60),
      ]),
      [6],
    ),
  );
  const inFlightLine = inFlight.length > 0 ? `${inFlight.length} in flight, ` : '';
  println(io, `${inFlightLine}${jobs.length} finished, newest first${found.nextCursor ? `; more: --cursor ${found.nextCursor}` : ''}`);
  return 0;
}
