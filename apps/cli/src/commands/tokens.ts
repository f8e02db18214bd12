import { randomBytes } from 'node:crypto';
import type { ApiTokenRow } from '@ceres/db';
import { apiTokenHash, newApiToken } from '@ceres/queues';
import type { CliContext } from '../context';
import { CliError } from '../errors';
import { iso, printJson, println, table, type Io } from '../output';
import type { Json } from './queues';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A token's public id: `tok_` and 10 random base32 characters (50 bits), shown in lists and logs. */
export function newTokenId(): string {
  // 256 is a multiple of 32: every character is equally likely.
  return `tok_${Array.from(randomBytes(10), (byte) => BASE32[byte % 32]).join('')}`;
}

/** A token as `tokens list` prints it: never the token, never its hash. */
function tokenOutput(row: ApiTokenRow) {
  return {
    id: row.id,
    tenant: row.tenantId,
    name: row.name,
    keyVersion: row.keyVersion,
    createdAt: row.createdAt.toISOString(),
    revokedAt: iso(row.revokedAt?.getTime()),
  };
}

export const TOKEN_JSON_HELP = `
A token (list --json): { id, tenant, name, keyVersion, createdAt, revokedAt }: never the token
nor its hash. keyVersion is the JOBS_ENCRYPTION_KEYS key its hash was made with: keep that key in
the ring (behind the new one) while such tokens are in use.`;

const UNIQUE_VIOLATION = '23505';

export async function create(ctx: CliContext, io: Io, options: Json & { tenant: string; name?: string }): Promise<number> {
  const keyring = ctx.requireKeyring('API tokens are stored as keyed hashes under its current key');
  const db = await ctx.database();
  const tenant = await db.tenants.get(options.tenant);
  if (!tenant) throw new CliError(`no tenant "${options.tenant}" (see \`ceres-jobs tenants list\`)`);
  if (tenant.disabledAt)
    throw new CliError(`tenant "${tenant.id}" is disabled: no new tokens; enable it first (\`ceres-jobs tenants enable ${tenant.id}\`)`);
  const token = newApiToken();
  for (let attempt = 1; ; attempt++) {
    const id = newTokenId();
    try {
      await db.apiTokens.insert({
        id,
        tenantId: tenant.id,
        name: options.name ?? null,
        keyVersion: keyring.current.version,
        tokenHash: apiTokenHash(keyring.current, token),
      });
    } catch (error) {
      // Two ids alike (50 random bits): draw another.
      if ((error as { code?: string }).code === UNIQUE_VIOLATION && attempt < 3) continue;
      throw error;
    }
    if (options.json) printJson(io, { id, tenant: tenant.id, token });
    else {
      println(io, `API token ${id} for tenant "${tenant.id}"; it is shown this once (only its keyed hash is stored):`);
      println(io, token);
    }
    return 0;
  }
}

export async function list(ctx: CliContext, io: Io, options: Json & { tenant?: string }): Promise<number> {
  const db = await ctx.database();
  if (options.tenant !== undefined && !(await db.tenants.get(options.tenant)))
    throw new CliError(`no tenant "${options.tenant}" (see \`ceres-jobs tenants list\`)`);
  const tokens = (await db.apiTokens.list())
    .filter((row) => options.tenant === undefined || row.tenantId === options.tenant)
    .map(tokenOutput);
  if (options.json) {
    printJson(io, { tokens });
    return 0;
  }
  if (tokens.length === 0) {
    println(io, options.tenant === undefined ? 'no API tokens' : `no API tokens for tenant "${options.tenant}"`);
    return 0;
  }
  println(
    io,
    table(
      ['id', 'tenant', 'name', 'key', 'created', 'revoked'],
      tokens.map((t) => [t.id, t.tenant, t.name ?? '-', t.keyVersion, t.createdAt, t.revokedAt ?? '-']),
    ),
  );
  return 0;
}

export async function revoke(ctx: CliContext, io: Io, id: string, options: Json): Promise<number> {
  const db = await ctx.database();
  if (!(await db.apiTokens.revoke(id))) {
    const row = (await db.apiTokens.list()).find((each) => each.id === id);
    if (!row) throw new CliError(`no API token "${id}" (see \`ceres-jobs tokens list\`)`);
    throw new CliError(`API token "${id}" was revoked already, at ${row.revokedAt!.toISOString()}`);
  }
  const row = (await db.apiTokens.list()).find((each) => each.id === id)!;
  if (options.json) printJson(io, { id, tenant: row.tenantId, revokedAt: row.revokedAt!.toISOString() });
  else println(io, `API token ${id} of tenant "${row.tenantId}" revoked`);
  return 0;
}
