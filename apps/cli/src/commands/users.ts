import { ACCOUNT_NAME, hashPassword, isRole, newPassword, ROLES, type Role } from '@ceres/app-kit';
import type { AccountRow, Db } from '@ceres/db';
import { InvalidArgumentError } from 'commander';
import type { CliContext } from '../context';
import { CliError, UsageError } from '../errors';
import { iso, printJson, println, table, type Io } from '../output';
import type { Json } from './queues';

/*
 * The operator accounts (issue 27): Bull Board, the admin API and the CLI (CERES_JOBS_USER) log in
 * with them. A password is generated, printed once and stored as a scrypt hash only; no command
 * prints a hash. Every change is one row of the audit trail (`user.change`), without the password.
 */

/** An account name, as commander argument parser. */
export function accountName(value: string): string {
  if (!ACCOUNT_NAME.test(value))
    throw new InvalidArgumentError('expected 1-40 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit');
  return value;
}

/** A role, as commander argument parser. */
export function role(value: string): Role {
  if (!isRole(value)) throw new InvalidArgumentError(`expected one of ${ROLES.join(', ')}`);
  return value;
}

/** The roles as they apply to the CLI (CERES_JOBS_USER), for `users --help`. */
export const ROLES_HELP = `
Roles, as the CLI applies them when it runs as an account (CERES_JOBS_USER/CERES_JOBS_PASSWORD):
  viewer    stats, jobs, job, failed list, schedulers, monitor, tenants list/show, tokens list
  operator  also retry, pause, resume, schedulers run, failed retry
  admin     also clean, drain, erase, failed forget/flush, tenants add/update/disable/enable,
            tokens create/revoke, users, audit, work
--tenant: the account sees and acts on that tenant's jobs only (whole-queue commands refused).`;

export const USER_JSON_HELP = `
An account (list --json): { name, role, tenant, disabled, disabledAt, createdAt, updatedAt }; tenant
null: every tenant. Never a password nor its hash.`;

/** An account as every command prints it: never the password hash. */
function userOutput(row: AccountRow) {
  return {
    name: row.name,
    role: row.role,
    tenant: row.tenant,
    disabled: row.disabledAt !== null,
    disabledAt: iso(row.disabledAt?.getTime()),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

async function getAccount(db: Db, name: string): Promise<AccountRow> {
  const row = await db.accounts.get(name);
  if (!row) throw new CliError(`no account "${name}" (see \`ceres-jobs users list\`)`);
  return row;
}

async function requireTenant(db: Db, tenant: string): Promise<void> {
  if (!(await db.tenants.get(tenant))) throw new CliError(`no tenant "${tenant}" (see \`ceres-jobs tenants list\`)`);
}

const scopeText = (tenant: string | null) => (tenant === null ? 'every tenant' : `tenant "${tenant}" only`);

function printPassword(io: Io, what: string, password: string): void {
  println(io, `${what}; its password is shown this once (only its scrypt hash is stored):`);
  println(io, password);
}

export async function add(ctx: CliContext, io: Io, name: string, options: Json & { role: Role; tenant?: string }): Promise<number> {
  await ctx.refuseScoped('users add');
  const db = await ctx.database();
  if (options.tenant !== undefined) await requireTenant(db, options.tenant);
  const password = newPassword();
  const passwordHash = await hashPassword(password);
  const tenant = options.tenant ?? null;
  const added = await ctx.audited(
    'user.change',
    { tenant, target: { account: name }, params: { change: 'add', role: options.role, tenant } },
    () => db.accounts.add({ name, role: options.role, tenant, passwordHash }),
    (done) => (done ? 'ok' : 'exists'),
  );
  if (!added) throw new CliError(`account "${name}" exists already; see \`ceres-jobs users set-role\` and \`users reset-password\``);
  if (options.json) printJson(io, { name, role: options.role, ...(tenant === null ? {} : { tenant }), password });
  else printPassword(io, `added account "${name}", role ${options.role}, ${scopeText(tenant)}`, password);
  return 0;
}

export async function list(ctx: CliContext, io: Io, options: Json): Promise<number> {
  await ctx.refuseScoped('users list');
  const users = (await (await ctx.database()).accounts.list()).map(userOutput);
  if (options.json) {
    printJson(io, { users });
    return 0;
  }
  if (users.length === 0) {
    println(io, 'no accounts (QUEUES_UI_USER/QUEUES_UI_PASS is the bootstrap admin; add one with `ceres-jobs users add`)');
    return 0;
  }
  println(
    io,
    table(
      ['name', 'role', 'tenant', 'disabled', 'created'],
      users.map((u) => [u.name, u.role, u.tenant ?? '(every tenant)', u.disabledAt ?? 'no', u.createdAt]),
    ),
  );
  return 0;
}

export async function setRole(
  ctx: CliContext,
  io: Io,
  name: string,
  newRole: Role,
  options: Json & { tenant?: string; allTenants?: boolean },
): Promise<number> {
  if (options.tenant !== undefined && options.allTenants)
    throw new UsageError("option '--all-tenants': cannot be used with --tenant (one tenant, or every tenant)");
  await ctx.refuseScoped('users set-role');
  const db = await ctx.database();
  if (options.tenant !== undefined) await requireTenant(db, options.tenant);
  // undefined: the tenant stays as it is.
  const tenant = options.allTenants ? null : options.tenant;
  const changed = await ctx.audited(
    'user.change',
    {
      tenant: tenant ?? null,
      target: { account: name },
      params: { change: 'set-role', role: newRole, ...(tenant === undefined ? {} : { tenant }) },
    },
    () => db.accounts.setRole(name, newRole, tenant),
    (done) => (done ? 'ok' : 'not-found'),
  );
  if (!changed) await getAccount(db, name);
  const row = userOutput(await getAccount(db, name));
  if (options.json) printJson(io, { user: row });
  else println(io, `account "${name}" is ${row.role}, ${scopeText(row.tenant)}`);
  return 0;
}

export async function setDisabled(ctx: CliContext, io: Io, name: string, disabled: boolean, options: Json): Promise<number> {
  await ctx.refuseScoped(disabled ? 'users disable' : 'users enable');
  const db = await ctx.database();
  const changed = await ctx.audited(
    'user.change',
    { tenant: null, target: { account: name }, params: { change: disabled ? 'disable' : 'enable' } },
    () => db.accounts.setDisabled(name, disabled),
    (done) => (done ? 'ok' : 'not-found'),
  );
  if (!changed) await getAccount(db, name);
  const row = userOutput(await getAccount(db, name));
  if (options.json) printJson(io, { user: row });
  else println(io, disabled ? `account "${name}" is disabled since ${row.disabledAt}: it cannot log in` : `account "${name}" is enabled`);
  return 0;
}

export async function resetPassword(ctx: CliContext, io: Io, name: string, options: Json): Promise<number> {
  await ctx.refuseScoped('users reset-password');
  const db = await ctx.database();
  const password = newPassword();
  const passwordHash = await hashPassword(password);
  const changed = await ctx.audited(
    'user.change',
    { tenant: null, target: { account: name }, params: { change: 'reset-password' } },
    () => db.accounts.setPasswordHash(name, passwordHash),
    (done) => (done ? 'ok' : 'not-found'),
  );
  if (!changed) await getAccount(db, name);
  if (options.json) printJson(io, { name, password });
  else printPassword(io, `new password for account "${name}"`, password);
  return 0;
}
