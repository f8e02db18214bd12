import type { ArchivedFailure } from '@ceres/db';
import { tenantOfData } from '@ceres/queues';
import { CliError, UsageError } from '../errors';
import type { CliContext } from '../context';
import { maskData, maskText } from '../mask';
import { printJson, println, table, type Io } from '../output';
import { replay, type ReplayOutcome } from '../replay';
import type { Json } from './queues';

function failureOutput(row: ArchivedFailure) {
  return {
    id: row.id,
    queue: row.queue,
    jobName: row.jobName,
    jobId: row.jobId,
    payload: maskData(row.payload),
    error: maskText(row.error),
    attemptsMade: row.attemptsMade,
    failedAt: row.failedAt.toISOString(),
    retriedAt: row.retriedAt?.toISOString() ?? null,
    retriedJobId: row.retriedJobId,
  };
}

/** Whether the principal may see and act on archived failure `id`: another tenant's is "no archived failure" to a tenant-scoped account. */
async function mayTouch(ctx: CliContext, id: number): Promise<boolean> {
  const { tenant } = await ctx.principal();
  if (tenant === null) return true;
  const row = await (await ctx.archive()).get(id);
  return row !== null && tenantOfData(row.payload) === tenant;
}

/** A tenant-scoped account lists the newest of the last 1000 failures that are its tenant's. */
const SCOPED_LIST_WINDOW = 1000;

export async function list(ctx: CliContext, io: Io, options: Json & { queue?: string; since?: Date; limit: number }): Promise<number> {
  const archive = await ctx.archive();
  const { tenant } = await ctx.principal();
  const limit = tenant === null ? options.limit : SCOPED_LIST_WINDOW;
  const rows = (await archive.list({ queue: options.queue, since: options.since, limit }))
    .filter((row) => tenant === null || tenantOfData(row.payload) === tenant)
    .slice(0, options.limit)
    .map(failureOutput);
  if (options.json) {
    printJson(io, { failures: rows });
    return 0;
  }
  if (rows.length === 0) {
    println(io, 'no archived failures');
    return 0;
  }
  println(
    io,
    table(
      ['id', 'queue', 'job', 'job id', 'attempts', 'failed at', 'retried at', 'error'],
      rows.map((row) => [
        row.id,
        row.queue,
        row.jobName,
        row.jobId,
        row.attemptsMade,
        row.failedAt,
        row.retriedAt ?? '-',
        row.error.slice(0, 60),
      ]),
      [0, 4],
    ),
  );
  return 0;
}

function describe(result: ReplayOutcome): string {
  switch (result.outcome) {
    case 'replayed':
      return `#${result.id}: ${result.how === 'retried-in-redis' ? 'retried in Redis (the failed job was still there)' : 'enqueued'} as job ${result.jobId}`;
    case 'already-replayed':
      return `#${result.id}: already retried at ${result.retriedAt}${result.jobId ? ` as job ${result.jobId}` : ''}; nothing done`;
    case 'not-found':
      return `#${result.id}: no archived failure with this id`;
    case 'not-replayed':
      return `#${result.id}: not retried: ${result.reason}`;
  }
}

export async function retry(
  ctx: CliContext,
  io: Io,
  id: number | undefined,
  options: Json & { all?: boolean; queue?: string },
): Promise<number> {
  if ((id === undefined) === !options.all) throw new UsageError('failed retry: give either an <archive-id> or --all');
  if (id !== undefined && options.queue) throw new UsageError('failed retry: --queue goes with --all only');
  if (options.all) await ctx.refuseScoped('failed retry --all', 'retry its failures one <archive-id> at a time');
  const archive = await ctx.archive();
  const db = await ctx.database();
  const client = await ctx.queues();
  const ids = id !== undefined ? [id] : await archive.notRetried({ queue: options.queue });
  if (id !== undefined && !(await mayTouch(ctx, id))) throw new CliError(`#${id}: no archived failure with this id`);
  const results = await ctx.audited(
    'archive.replay',
    { target: id !== undefined ? { archiveId: id } : { archiveId: 'all', queue: options.queue ?? null } },
    async () => {
      const done: ReplayOutcome[] = [];
      for (const each of ids) done.push(await replay(each, { archive, db, client }));
      return done;
    },
    (done) =>
      id !== undefined
        ? done[0]!.outcome === 'replayed'
          ? 'ok'
          : done[0]!.outcome
        : `ok: ${done.filter((result) => result.outcome === 'replayed').length} of ${done.length} replayed`,
  );
  const replayed = results.filter((result) => result.outcome === 'replayed').length;
  if (options.json) printJson(io, { replayed, results });
  else {
    for (const result of results) println(io, describe(result));
    if (options.all) println(io, `${replayed} of ${ids.length} archived failure(s) retried`);
  }
  // One id that was not put back is a failed command; --all fails only when some were left.
  return results.every((result) => result.outcome === 'replayed') ? 0 : 1;
}

export async function forget(ctx: CliContext, io: Io, id: number, options: Json): Promise<number> {
  const archive = await ctx.archive();
  const forgotten =
    (await mayTouch(ctx, id)) &&
    (await ctx.audited(
      'archive.forget',
      { target: { archiveId: id } },
      () => archive.forget(id),
      (done) => (done ? 'ok' : 'not-found'),
    ));
  if (!forgotten) throw new CliError(`no archived failure #${id}`);
  if (options.json) printJson(io, { id, forgotten: true });
  else println(io, `archived failure #${id} deleted`);
  return 0;
}

export async function flush(ctx: CliContext, io: Io, options: Json & { before?: Date }): Promise<number> {
  await ctx.refuseScoped('failed flush');
  const archive = await ctx.archive();
  const removed = await ctx.audited('archive.flush', { params: { before: options.before?.toISOString() ?? null } }, () =>
    archive.flush({ before: options.before }),
  );
  if (options.json) printJson(io, { removed, before: options.before?.toISOString() ?? null });
  else println(io, `deleted ${removed} archived failure(s)${options.before ? ` that failed before ${options.before.toISOString()}` : ''}`);
  return 0;
}
