import { randomBytes } from 'node:crypto';
import { DEFAULT_TOKEN_SCOPES, isTokenScope, TOKEN_SCOPES, type TokenScope } from '@ceres/app-kit';
import type { ApiTokenRow } from '@ceres/db';
import { InvalidArgumentError } from 'commander';
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

/** `--scope enqueue,campaigns` (repeatable, commas allowed), as commander option parser: the scopes, each once. */
export function scopes(value: string, previous: TokenScope[] | undefined): TokenScope[] {
  const given = value.split(',').map((each) => each.trim());
  const unknown = given.filter((each) => !isTokenScope(each));
  if (unknown.length > 0 || given.length === 0)
    throw new InvalidArgumentError(
      `unknown scope${unknown.length > 1 ? 's' : ''} "${unknown.join('", "')}"; known scopes: ${TOKEN_SCOPES.join(', ')}`,
    );
  return [...new Set([...(previous ?? []), ...(given as TokenScope[])])];
}

/** A token as `tokens list` prints it: never the token, never its hash. */
function tokenOutput(row: ApiTokenRow) {
  return {
    id: row.id,
    tenant: row.tenantId,
    name: row.name,
    scopes: row.scopes,
    keyVersion: row.keyVersion,
    createdAt: row.createdAt.toISOString(),
    revokedAt: iso(row.revokedAt?.getTime()),
  };
}

export const TOKEN_JSON_HELP = `
A token (list --json): { id, tenant, name, scopes, keyVersion, createdAt, revokedAt }: never the token
nor its hash. scopes: what it may call (${TOKEN_SCOPES.join(', ')}). keyVersion is the JOBS_ENCRYPTION_KEYS key its hash was made with: keep that key in
the ring (behind the new one) while such tokens are in use.`;

const UNIQUE_VIOLATION = '23505';

export async function create(
  ctx: CliContext,
  io: Io,
  options: Json & { tenant: string; name?: string; scope?: TokenScope[] },
): Promise<number> {
  const keyring = ctx.requireKeyring('API tokens are stored as keyed hashes under its current key');
  const tenantId = (await ctx.scopedTenant(options.tenant))!;
  const scopeList = options.scope ?? [...DEFAULT_TOKEN_SCOPES];
  const db = await ctx.database();
  const tenant = await db.tenants.get(tenantId);
  if (!tenant) throw new CliError(`no tenant "${tenantId}" (see \`ceres-jobs tenants list\`)`);
  if (tenant.disabledAt)
    throw new CliError(`tenant "${tenant.id}" is disabled: no new tokens; enable it first (\`ceres-jobs tenants enable ${tenant.id}\`)`);
  const token = newApiToken();
  for (let attempt = 1; ; attempt++) {
    const id = newTokenId();
    try {
      await ctx.audited(
        'token.change',
        { tenant: tenant.id, target: { tokenId: id }, params: { change: 'create', scopes: scopeList } },
        () =>
          db.apiTokens.insert({
            id,
            tenantId: tenant.id,
            name: options.name ?? null,
            keyVersion: keyring.current.version,
            tokenHash: apiTokenHash(keyring.current, token),
            scopes: scopeList,
          }),
      );
    } catch (error) {
      // Two ids alike (50 random bits): draw another.
      if ((error as { code?: string }).code === UNIQUE_VIOLATION && attempt < 3) continue;
      throw error;
    }
    if (options.json) printJson(io, { id, tenant: tenant.id, token });
    else {
      println(
        io,
        `API token ${id} for tenant "${tenant.id}" (scopes ${scopeList.join(', ')}); it is shown this once (only its keyed hash is stored):`,
      );
      println(io, token);
    }
    return 0;
  }
}

export async function list(ctx: CliContext, io: Io, options: Json & { tenant?: string }): Promise<number> {
  const tenant = await ctx.scopedTenant(options.tenant);
  const db = await ctx.database();
  if (tenant !== undefined && !(await db.tenants.get(tenant)))
    throw new CliError(`no tenant "${tenant}" (see \`ceres-jobs tenants list\`)`);
  const tokens = (await db.apiTokens.list()).filter((row) => tenant === undefined || row.tenantId === tenant).map(tokenOutput);
  if (options.json) {
    printJson(io, { tokens });
    return 0;
  }
  if (tokens.length === 0) {
    println(io, tenant === undefined ? 'no API tokens' : `no API tokens for tenant "${tenant}"`);
    return 0;
  }
  println(
    io,
    table(
      ['id', 'tenant', 'name', 'scopes', 'key', 'created', 'revoked'],
      tokens.map((t) => [t.id, t.tenant, t.name ?? '-', t.scopes.join(','), t.keyVersion, t.createdAt, t.revokedAt ?? '-']),
    ),
  );
  return 0;
}

export async function revoke(ctx: CliContext, io: Io, id: string, options: Json): Promise<number> {
  const db = await ctx.database();
  const { tenant: scope } = await ctx.principal();
  const before = (await db.apiTokens.list()).find((each) => each.id === id);
  // A tenant-scoped account does not learn whether another tenant's token exists.
  const visible = before !== undefined && (scope === null || before.tenantId === scope);
  const revoked =
    visible &&
    (await ctx.audited(
      'token.change',
      { tenant: before.tenantId, target: { tokenId: id }, params: { change: 'revoke' } },
      () => db.apiTokens.revoke(id),
      (done) => (done ? 'ok' : 'revoked-already'),
    ));
  if (!revoked) {
    const row = visible ? before : undefined;
    if (!row) throw new CliError(`no API token "${id}" (see \`ceres-jobs tokens list\`)`);
    throw new CliError(`API token "${id}" was revoked already, at ${row.revokedAt!.toISOString()}`);
  }
  const row = (await db.apiTokens.list()).find((each) => each.id === id)!;
  if (options.json) printJson(io, { id, tenant: row.tenantId, revokedAt: row.revokedAt!.toISOString() });
  else println(io, `API token ${id} of tenant "${row.tenantId}" revoked`);
  return 0;
}
