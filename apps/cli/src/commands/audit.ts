import type { AuditRow } from '@ceres/db';
import type { CliContext } from '../context';
import { CliError } from '../errors';
import { printJson, println, table, type Io } from '../output';
import type { Json } from './queues';

export const AUDIT_JSON_HELP = `
A row (--json): { id, at, actor, role, tenant, action, target, params, outcome, clientAddress, hash };
actor is account:<name>, token:<id>, os:<user> or bootstrap:<user>; outcome "ok", what
stopped it ("not-found", "exists", "not-failed"…) or "error: <code>".`;

function auditOutput(row: AuditRow) {
  return {
    id: row.id,
    at: row.at.toISOString(),
    actor: row.actor,
    role: row.role,
    tenant: row.tenant,
    action: row.action,
    target: row.target,
    params: row.params,
    outcome: row.outcome,
    clientAddress: row.clientAddress,
    hash: row.hash,
  };
}

const compact = (value: Record<string, unknown>) =>
  Object.entries(value)
    .map(([key, field]) => `${key}=${typeof field === 'string' ? field : JSON.stringify(field)}`)
    .join(' ');

/** `audit`: the trail newest first, filtered; a tenant-scoped admin reads its tenant's rows only. */
export async function list(
  ctx: CliContext,
  io: Io,
  options: Json & { since?: Date; actor?: string; tenant?: string; action?: string; limit: number },
): Promise<number> {
  const tenant = await ctx.scopedTenant(options.tenant);
  const db = await ctx.database();
  const rows = (
    await db.audit.page({ since: options.since, actor: options.actor, tenant, action: options.action, limit: options.limit })
  ).map(auditOutput);
  if (options.json) {
    printJson(io, { rows });
    return 0;
  }
  if (rows.length === 0) {
    println(io, 'no audit rows');
    return 0;
  }
  println(
    io,
    table(
      ['id', 'at', 'actor', 'role', 'tenant', 'action', 'target', 'params', 'outcome'],
      rows.map((row) => [
        row.id,
        row.at,
        row.actor,
        row.role,
        row.tenant ?? '-',
        row.action,
        compact(row.target),
        compact(row.params),
        row.outcome,
      ]),
      [0],
    ),
  );
  return 0;
}

/** `audit verify`: recomputes the chain; exit 1 naming the first broken row. */
export async function verify(ctx: CliContext, io: Io, options: Json): Promise<number> {
  const db = await ctx.database();
  const { rows, firstBroken } = await db.audit.verify();
  if (options.json) printJson(io, { rows, whole: firstBroken === null, firstBroken });
  if (firstBroken) {
    throw new CliError(`the audit trail is broken at row ${firstBroken.id}: ${firstBroken.reason} (${rows} row(s) checked)`);
  }
  if (!options.json) println(io, `the audit trail is whole: ${rows} row(s) checked`);
  return 0;
}
