import type { ArchivedFailure } from '@ceres/db';
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

export async function list(ctx: CliContext, io: Io, options: Json & { queue?: string; since?: Date; limit: number }): Promise<number> {
  const archive = await ctx.archive();
  const rows = (await archive.list({ queue: options.queue, since: options.since, limit: options.limit })).map(failureOutput);
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
  const archive = await ctx.archive();
  const db = await ctx.database();
  const client = await ctx.queues();
  const ids = id !== undefined ? [id] : await archive.notRetried({ queue: options.queue });
  const results: ReplayOutcome[] = [];
  for (const each of ids) results.push(await replay(each, { archive, db, client }));
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
  if (!(await archive.forget(id))) throw new CliError(`no archived failure #${id}`);
  if (options.json) printJson(io, { id, forgotten: true });
  else println(io, `archived failure #${id} deleted`);
  return 0;
}

export async function flush(ctx: CliContext, io: Io, options: Json & { before?: Date }): Promise<number> {
  const archive = await ctx.archive();
  const removed = await archive.flush({ before: options.before });
  if (options.json) printJson(io, { removed, before: options.before?.toISOString() ?? null });
  else println(io, `deleted ${removed} archived failure(s)${options.before ? ` that failed before ${options.before.toISOString()}` : ''}`);
  return 0;
}
