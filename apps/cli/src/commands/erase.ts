import { createInterface } from 'node:readline/promises';
import { DEFAULT_TENANT, eraseUserData, ErasureUserId, schemaIssues } from '@ceres/queues';
import pino from 'pino';
import type { CliContext } from '../context';
import { CliError, UsageError } from '../errors';
import { printJson, println, type Io } from '../output';
import type { Json } from './queues';

/**
 * The erasure's log line (`user data erased`, counts only) as pino JSON on stderr: the record an
 * operator keeps, like queues-ui's for `POST /api/erasure`. Stdout stays the answer.
 */
function erasureLog(ctx: CliContext, io: Io) {
  return pino({ level: ctx.config().logLevel, base: { app: 'ceres-cli', pid: process.pid } }, io.stderr);
}

/**
 * `erase <user-id> [--tenant <id>]`: the admin route's erasure (`eraseUserData`) of the user of
 * that tenant (`default`): their `failed_jobs` rows, tokens, newsletter rows and jobs in every
 * queue and state; the same user id of another tenant is left alone. Both servers are reached
 * before anything is erased. The user id is never printed or logged: the output would tie the
 * request to them.
 */
export async function erase(ctx: CliContext, io: Io, userId: string, options: Json & { yes?: boolean; tenant?: string }): Promise<number> {
  const [issue] = schemaIssues(ErasureUserId, userId);
  if (issue) throw new UsageError(`user-id: ${issue.message.replace(/^payload/, 'the user id')}`);
  // A tenant-scoped account erases its tenant's users only.
  const tenant = (await ctx.scopedTenant(options.tenant)) ?? DEFAULT_TENANT;
  const log = erasureLog(ctx, io);
  const db = await ctx.database();
  const client = await ctx.queues();
  // An unknown tenant has no user: said, rather than "removed 0" as if the user had no data.
  if (!(await db.tenants.get(tenant))) throw new CliError(`no tenant "${tenant}" (see tenants list)`);
  if (!options.yes) {
    if (!io.stdin.isTTY) throw new UsageError('erase: asks for confirmation on a terminal; pass --yes to erase without asking');
    const rl = createInterface({ input: io.stdin, output: io.stdout as NodeJS.WritableStream });
    const answer = await rl.question(
      `${tenant === DEFAULT_TENANT ? '' : `Tenant ${tenant}: `}Erase this user's jobs (every queue and state), failed_jobs rows, tokens and newsletter addresses? [y/N] `,
    );
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) {
      println(io, 'nothing erased');
      return 1;
    }
  }
  // The audit row names the tenant only: never the user id (the row outlives the erasure).
  const counts = await ctx.audited(
    'erasure',
    { tenant, target: { tenant } },
    () => eraseUserData({ client, db, log }, userId, { tenant }),
    (done) => (done.jobsStillRunning > 0 ? `partial: ${done.jobsStillRunning} running job(s) left` : 'ok'),
  );
  if (options.json) printJson(io, counts);
  else {
    const perQueue = Object.entries(counts.jobsByQueue)
      .map(([queue, count]) => `${queue} ${count}`)
      .join(', ');
    println(
      io,
      `removed ${counts.jobs} job(s) (${perQueue}), ${counts.failedJobs} failed_jobs row(s), ${counts.tokens} token(s); ` +
        `blanked ${counts.newsletterRecipients} newsletter recipient row(s), ${counts.newsletterOptOuts} opt-out address(es); ` +
        `removed ${counts.sentMails} sent_mails record(s), ${counts.ledgerRows} job ledger row(s)`,
    );
  }
  if (counts.jobsStillRunning > 0) {
    // Everything else is gone; the running jobs are removed by calling again once they finished.
    throw new CliError(
      `${counts.jobsStillRunning} job(s) of this user are running and could not be removed; run erase again once they finished`,
    );
  }
  return 0;
}
