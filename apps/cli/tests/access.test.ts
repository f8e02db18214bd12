// Issue 27 in the CLI: operator accounts (`users`), token scopes, the audit trail (`audit`,
// `audit verify`), one audit row per mutating command with nothing personal in it, no audit no
// action, and CERES_JOBS_USER/CERES_JOBS_PASSWORD: the account's role gates each command, its
// tenant confines them.
import { userInfo } from 'node:os';
import { verifyPassword } from '@ceres/app-kit';
import { describe, expect, it } from 'vitest';
import { cli, cliJson, failSlackJobs, spawnCli, useBed } from './helpers';

const bed = useBed();
const OS_ACTOR = `os:${userInfo().username}`;

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  role: string;
  tenant: string | null;
  action: string;
  target: Record<string, unknown>;
  params: Record<string, unknown>;
  outcome: string;
}

/** Every audit row, oldest first, as stored (SQL, not the CLI). */
async function auditRows(): Promise<Array<Record<string, unknown>>> {
  return (await bed.db.pool.query<Record<string, unknown>>('SELECT * FROM audit_log ORDER BY id')).rows;
}

/** The rows appended while `run` ran. */
async function rowsOf(run: () => Promise<unknown>): Promise<Array<Record<string, unknown>>> {
  const before = (await auditRows()).length;
  await run();
  return (await auditRows()).slice(before);
}

async function ensureTenant(id: string) {
  if (!(await bed.db.tenants.get(id))) expect((await cli(bed.env, ['tenants', 'add', id, '--name', `Tenant ${id}`])).code).toBe(0);
}

/** Adds an account and returns the environment that runs the CLI as it. */
async function accountEnv(name: string, role: string, tenant?: string): Promise<Record<string, string>> {
  const added = await cliJson<{ password: string }>(bed.env, [
    'users',
    'add',
    name,
    '--role',
    role,
    ...(tenant ? ['--tenant', tenant] : []),
  ]);
  return { ...bed.env, CERES_JOBS_USER: name, CERES_JOBS_PASSWORD: added.password };
}

describe('users', () => {
  it('add prints the password once, stores only its scrypt hash; list, set-role, disable, enable, reset-password', async () => {
    await ensureTenant('villa-u');
    const added = await cli(bed.env, ['users', 'add', 'ana', '--role', 'operator', '--json']);
    expect(added.code, added.stderr).toBe(0);
    const ana = JSON.parse(added.stdout) as { name: string; role: string; password: string };
    expect(Object.keys(ana)).toEqual(['name', 'role', 'password']);
    expect(ana).toEqual({ name: 'ana', role: 'operator', password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/) });
    const scoped = await cliJson<Record<string, string>>(bed.env, ['users', 'add', 'bea', '--role', 'viewer', '--tenant', 'villa-u']);
    expect(scoped).toEqual({ name: 'bea', role: 'viewer', tenant: 'villa-u', password: expect.any(String) });

    const { rows } = await bed.db.pool.query<Record<string, unknown>>('SELECT * FROM operator_accounts WHERE name = $1', ['ana']);
    expect(rows[0]).toMatchObject({ role: 'operator', tenant_id: null, disabled_at: null });
    expect(rows[0]!.password_hash).toMatch(/^scrypt\$/);
    expect(JSON.stringify(rows[0])).not.toContain(ana.password);
    expect(await verifyPassword(ana.password, rows[0]!.password_hash as string)).toBe(true);

    const text = await cli(bed.env, ['users', 'add', 'cleo', '--role', 'admin']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^added account "cleo", role admin, every tenant; its password is shown this once/);
    expect(text.stdout.trim().split('\n')[1]).toMatch(/^[A-Za-z0-9_-]{32}$/);

    const list = await cli(bed.env, ['users', 'list', '--json']);
    const { users } = JSON.parse(list.stdout) as { users: Array<Record<string, unknown>> };
    expect(users.filter((u) => ['ana', 'bea', 'cleo'].includes(u.name as string))).toEqual([
      {
        name: 'ana',
        role: 'operator',
        tenant: null,
        disabled: false,
        disabledAt: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
      expect.objectContaining({ name: 'bea', role: 'viewer', tenant: 'villa-u' }),
      expect.objectContaining({ name: 'cleo', role: 'admin', tenant: null }),
    ]);
    const listText = await cli(bed.env, ['users', 'list']);
    expect(listText.stdout).toMatch(/bea\s*│\s*viewer\s*│\s*villa-u/);
    for (const output of [list.stdout, listText.stdout]) {
      expect(output).not.toContain('scrypt');
      expect(output).not.toContain(ana.password);
    }

    expect(await cliJson(bed.env, ['users', 'set-role', 'ana', 'admin', '--tenant', 'villa-u'])).toEqual({
      user: expect.objectContaining({ name: 'ana', role: 'admin', tenant: 'villa-u' }),
    });
    expect(await cliJson(bed.env, ['users', 'set-role', 'ana', 'viewer'])).toEqual({
      user: expect.objectContaining({ role: 'viewer', tenant: 'villa-u' }),
    });
    expect(await cliJson(bed.env, ['users', 'set-role', 'ana', 'operator', '--all-tenants'])).toEqual({
      user: expect.objectContaining({ role: 'operator', tenant: null }),
    });

    // The account logs in (CERES_JOBS_USER) until it is disabled; reset-password retires the old password.
    const asAna = { ...bed.env, CERES_JOBS_USER: 'ana', CERES_JOBS_PASSWORD: ana.password };
    expect((await cli(asAna, ['stats', '--json'])).code).toBe(0);
    expect(await cliJson(bed.env, ['users', 'disable', 'ana'])).toEqual({ user: expect.objectContaining({ disabled: true }) });
    expect(await cli(asAna, ['stats'])).toMatchObject({
      code: 1,
      stderr: 'ceres-jobs: CERES_JOBS_USER: the account "ana" is disabled (`ceres-jobs users enable ana`); nothing was done\n',
    });
    expect(await cliJson(bed.env, ['users', 'enable', 'ana'])).toEqual({ user: expect.objectContaining({ disabled: false }) });
    expect((await cli(asAna, ['stats', '--json'])).code).toBe(0);
    const reset = await cliJson<{ name: string; password: string }>(bed.env, ['users', 'reset-password', 'ana']);
    expect(reset).toEqual({ name: 'ana', password: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/) });
    expect(reset.password).not.toBe(ana.password);
    expect(await cli(asAna, ['stats'])).toMatchObject({
      code: 1,
      stderr: 'ceres-jobs: CERES_JOBS_USER/CERES_JOBS_PASSWORD: no account "ana" with this password; nothing was done\n',
    });
    expect((await cli({ ...asAna, CERES_JOBS_PASSWORD: reset.password }, ['stats', '--json'])).code).toBe(0);

    // Every change is one audit row, without the password.
    const changes = (await auditRows()).filter((row) => row.action === 'user.change');
    expect(changes.map((row) => [(row.target as { account: string }).account, (row.params as { change: string }).change])).toEqual([
      ['ana', 'add'],
      ['bea', 'add'],
      ['cleo', 'add'],
      ['ana', 'set-role'],
      ['ana', 'set-role'],
      ['ana', 'set-role'],
      ['ana', 'disable'],
      ['ana', 'enable'],
      ['ana', 'reset-password'],
    ]);
    for (const row of changes) {
      expect(row).toMatchObject({ actor: OS_ACTOR, role: 'admin', outcome: 'ok' });
      for (const secret of [ana.password, reset.password, scoped.password!]) expect(JSON.stringify(row)).not.toContain(secret);
    }
  });

  it('a bad name, role or tenant is exit 2 naming it; an unknown account or tenant exit 1; nothing written', async () => {
    const before = (await auditRows()).length;
    const badName = await cli(bed.env, ['users', 'add', 'Not Valid', '--role', 'viewer']);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toMatch(/argument 'name'/);
    const badRole = await cli(bed.env, ['users', 'add', 'dora', '--role', 'root']);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toMatch(/option '--role <role>' argument 'root' is invalid. expected one of viewer, operator, admin/);
    const noRole = await cli(bed.env, ['users', 'add', 'dora']);
    expect(noRole.code).toBe(2);
    expect(noRole.stderr).toMatch(/required option '--role <role>' not specified/);
    const badTenant = await cli(bed.env, ['users', 'add', 'dora', '--role', 'viewer', '--tenant', 'Bad_Tenant']);
    expect(badTenant.code).toBe(2);
    expect(badTenant.stderr).toMatch(/option '--tenant <id>'/);
    expect((await cli(bed.env, ['users', 'set-role', 'dora', 'boss'])).stderr).toMatch(
      /value 'boss' is invalid for argument 'role'. expected one of viewer, operator, admin/,
    );
    expect(await cli(bed.env, ['users', 'add', 'dora', '--role', 'viewer', '--tenant', 'nowhere'])).toMatchObject({
      code: 1,
      stderr: 'ceres-jobs: no tenant "nowhere" (see `ceres-jobs tenants list`)\n',
    });
    expect((await cli(bed.env, ['users', 'set-role', 'dora', 'admin', '--tenant', 'default', '--all-tenants'])).code).toBe(2);
    for (const args of [
      ['set-role', 'nobody', 'admin'],
      ['disable', 'nobody'],
      ['enable', 'nobody'],
      ['reset-password', 'nobody'],
    ]) {
      expect(await cli(bed.env, ['users', ...args])).toMatchObject({
        code: 1,
        stdout: '',
        stderr: 'ceres-jobs: no account "nobody" (see `ceres-jobs users list`)\n',
      });
    }
    expect(await bed.db.accounts.get('dora')).toBeNull();
    // Nothing was done for the malformed ones; the unknown accounts are recorded as tried.
    const rows = (await auditRows()).slice(before);
    expect(rows.map((row) => row.outcome)).toEqual(['not-found', 'not-found', 'not-found', 'not-found']);

    const dup = await cli(bed.env, ['users', 'add', 'dup', '--role', 'viewer']);
    expect(dup.code).toBe(0);
    expect(await cli(bed.env, ['users', 'add', 'dup', '--role', 'admin'])).toMatchObject({ code: 1 });
    expect((await bed.db.accounts.get('dup'))!.role).toBe('viewer');
  });

  it('CERES_JOBS_USER without CERES_JOBS_PASSWORD, or a malformed one, is exit 2 naming the variable', async () => {
    expect(await cli({ ...bed.env, CERES_JOBS_USER: 'ana' }, ['stats'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^ceres-jobs: invalid configuration: CERES_JOBS_USER is set but CERES_JOBS_PASSWORD is not/),
    });
    expect(await cli({ ...bed.env, CERES_JOBS_PASSWORD: 'x' }, ['stats'])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^ceres-jobs: invalid configuration: CERES_JOBS_PASSWORD is set but CERES_JOBS_USER is not/),
    });
    const bad = await cli({ ...bed.env, CERES_JOBS_USER: 'Ana Maria', CERES_JOBS_PASSWORD: 'x' }, ['stats']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^ceres-jobs: invalid configuration: CERES_JOBS_USER: /);
    expect(await cli({ ...bed.env, CERES_JOBS_USER: 'ghost', CERES_JOBS_PASSWORD: 'nope' }, ['stats'])).toMatchObject({
      code: 1,
      stderr: 'ceres-jobs: CERES_JOBS_USER/CERES_JOBS_PASSWORD: no account "ghost" with this password; nothing was done\n',
    });
  });
});

describe('tokens --scope', () => {
  it('create stores the scopes (default enqueue), list shows them; an unknown scope is exit 2 naming --scope and the known ones', async () => {
    await ensureTenant('scoped-t');
    const both = await cliJson<{ id: string }>(bed.env, ['tokens', 'create', '--tenant', 'scoped-t', '--scope', 'enqueue,campaigns']);
    const plain = await cliJson<{ id: string }>(bed.env, ['tokens', 'create', '--tenant', 'scoped-t']);
    const repeated = await cliJson<{ id: string }>(bed.env, ['tokens', 'create', '--tenant', 'scoped-t', '--scope', 'campaigns']);
    const scopesOf = async (id: string) =>
      (await bed.db.pool.query<{ scopes: string[] }>('SELECT scopes FROM api_tokens WHERE id = $1', [id])).rows[0]!.scopes;
    expect(await scopesOf(both.id)).toEqual(['enqueue', 'campaigns']);
    expect(await scopesOf(plain.id)).toEqual(['enqueue']);
    expect(await scopesOf(repeated.id)).toEqual(['campaigns']);

    const { tokens } = await cliJson<{ tokens: Array<{ id: string; scopes: string[] }> }>(bed.env, [
      'tokens',
      'list',
      '--tenant',
      'scoped-t',
    ]);
    expect(tokens.map((t) => [t.id, t.scopes])).toEqual([
      [both.id, ['enqueue', 'campaigns']],
      [plain.id, ['enqueue']],
      [repeated.id, ['campaigns']],
    ]);
    const text = await cli(bed.env, ['tokens', 'list', '--tenant', 'scoped-t']);
    expect(text.stdout).toMatch(new RegExp(`${both.id}\\s*│\\s*scoped-t\\s*│\\s*-\\s*│\\s*enqueue,campaigns\\s*│`));

    const bad = await cli(bed.env, ['tokens', 'create', '--tenant', 'scoped-t', '--scope', 'enqueue,admin']);
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toMatch(
      /option '--scope <scopes>' argument 'enqueue,admin' is invalid. unknown scope "admin"; known scopes: enqueue, campaigns/,
    );
    expect(await scopesOf(both.id)).toEqual(['enqueue', 'campaigns']);
    expect((await bed.db.apiTokens.list()).filter((t) => t.tenantId === 'scoped-t')).toHaveLength(3);

    const created = (await auditRows()).filter((row) => row.action === 'token.change');
    expect(created.map((row) => row.params)).toEqual(
      expect.arrayContaining([
        { change: 'create', scopes: ['enqueue', 'campaigns'] },
        { change: 'create', scopes: ['enqueue'] },
      ]),
    );
  });
});

describe('one audit row per mutating command, nothing personal in it', () => {
  it('retry, retry --all, pause, resume, drain, clean, failed retry/forget/flush, tenants, tokens: actor, action, target, outcome', async () => {
    const producer = bed.producer();
    await producer.enqueue('slack/alert', { text: 'first', dedupeKey: 'one' });
    await producer.enqueue('slack/alert', { text: 'second', dedupeKey: 'two' });
    await failSlackJobs(bed.env, 2);
    const [failedId] = (await producer.getQueue('slack').getFailed()).map((job) => job.id!);
    const archiveIds: number[] = [];
    for (const n of [1, 2, 3]) {
      await bed.db.failedJobs.archive({
        queue: 'slack',
        jobName: 'alert',
        jobId: `slack:alert:archived-${n}`,
        payload: { text: `archived ${n}`, dedupeKey: `archived-${n}` },
        error: 'x',
        attemptsMade: 1,
        failedAt: new Date(),
      });
    }
    archiveIds.push(...(await bed.db.pool.query<{ id: number }>('SELECT id FROM failed_jobs ORDER BY id')).rows.map((r) => Number(r.id)));

    const steps: Array<[string[], Record<string, unknown>]> = [
      [['retry', 'slack', failedId!], { action: 'job.retry', tenant_id: 'default', target: { queue: 'slack', jobId: failedId } }],
      [['retry', 'slack', '--all'], { action: 'job.retry', target: { queue: 'slack' }, params: { all: true } }],
      [['pause', 'email'], { action: 'queue.pause', target: { queue: 'email' } }],
      [['resume', 'email'], { action: 'queue.resume', target: { queue: 'email' } }],
      [['drain', 'slack', '--yes'], { action: 'queue.drain', target: { queue: 'slack' } }],
      [
        ['clean', 'slack', 'completed'],
        { action: 'queue.clean', target: { queue: 'slack' }, params: { state: 'completed', grace: 0, limit: null } },
      ],
      [['failed', 'retry', String(archiveIds[0])], { action: 'archive.replay', target: { archiveId: archiveIds[0] } }],
      [['failed', 'forget', String(archiveIds[1])], { action: 'archive.forget', target: { archiveId: archiveIds[1] } }],
      [['failed', 'flush'], { action: 'archive.flush', params: { before: null } }],
      [
        ['tenants', 'add', 'audited-t', '--name', 'Audited', '--mail-from', 'Audited <no-reply@audited.example>'],
        {
          action: 'tenant.change',
          tenant_id: 'audited-t',
          target: { tenant: 'audited-t' },
          params: { change: 'add', set: ['name', 'mailFrom'] },
        },
      ],
      [
        ['tenants', 'update', 'audited-t', '--smtp-url', 'smtps://mailer:Sm7p-s3cret@relay.audited.example:465'],
        { action: 'tenant.change', params: { change: 'update', set: ['smtpUrl'], clear: [] } },
      ],
      [['tenants', 'disable', 'audited-t'], { action: 'tenant.change', params: { change: 'disable' } }],
      [['tenants', 'enable', 'audited-t'], { action: 'tenant.change', params: { change: 'enable' } }],
    ];
    for (const [args, expected] of steps) {
      let result: Awaited<ReturnType<typeof cli>> | undefined;
      const rows = await rowsOf(async () => (result = await cli(bed.env, args)));
      expect(result!.code, `${args.join(' ')}: ${result!.stderr}`).toBe(0);
      expect(rows, args.join(' ')).toHaveLength(1);
      expect(rows[0], args.join(' ')).toMatchObject({ actor: OS_ACTOR, role: 'admin', outcome: 'ok', ...expected });
    }

    let token = '';
    const createRows = await rowsOf(async () => {
      token = (await cliJson<{ token: string }>(bed.env, ['tokens', 'create', '--tenant', 'audited-t'])).token;
    });
    expect(createRows).toEqual([
      expect.objectContaining({
        action: 'token.change',
        tenant_id: 'audited-t',
        target: { tokenId: expect.stringMatching(/^tok_/) },
        params: { change: 'create', scopes: ['enqueue'] },
        outcome: 'ok',
      }),
    ]);
    const tokenRow = createRows[0]!;
    const revoked = await rowsOf(() => cli(bed.env, ['tokens', 'revoke', (tokenRow.target as { tokenId: string }).tokenId]));
    expect(revoked).toEqual([expect.objectContaining({ action: 'token.change', params: { change: 'revoke' }, outcome: 'ok' })]);

    // A command that finds nothing to act on is recorded with what happened.
    const missing = await rowsOf(() => cli(bed.env, ['retry', 'slack', 'no-such-job']));
    expect(missing).toEqual([expect.objectContaining({ action: 'job.retry', outcome: 'not-found' })]);

    const everything = JSON.stringify(await auditRows());
    for (const secret of [token, 'Sm7p-s3cret', 'no-reply@audited.example', 'relay.audited.example'])
      expect(everything).not.toContain(secret);
  });

  it('erase leaves the audit trail alone, and no audit row holds the user id', async () => {
    const userId = 'audited-person-4711';
    const producer = bed.producer();
    await producer.enqueue('email/welcome', { userId, email: 'person-4711@example.com', firstName: 'Rosario' });
    await bed.db.tokens.insert({ token: `${userId}-token-abcdef`, userId, expiresAt: new Date(Date.now() + 3_600_000) });
    const before = await auditRows();
    expect(before.length).toBeGreaterThan(0);

    const erased = await cli(bed.env, ['erase', userId, '--yes', '--json']);
    expect(erased.code, erased.stderr).toBe(0);
    expect(JSON.parse(erased.stdout)).toMatchObject({ jobs: 1, tokens: 1 });

    const after = await auditRows();
    // Every earlier row is untouched, one row was added, and the chain is whole.
    expect(after.slice(0, before.length)).toEqual(before);
    expect(after.slice(before.length)).toEqual([
      expect.objectContaining({ actor: OS_ACTOR, action: 'erasure', tenant_id: 'default', target: { tenant: 'default' }, outcome: 'ok' }),
    ]);
    const { rows } = await bed.db.pool.query<{ text: string }>('SELECT audit_log::text AS text FROM audit_log');
    for (const { text: row } of rows) {
      // The chain's SHA-256 hashes are hex: '4711' turns up in one now and then.
      const text = row.replace(/\b[0-9a-f]{64}\b/g, '<hash>');
      expect(text).not.toContain(userId);
      expect(text).not.toContain('4711');
      expect(text).not.toContain('example.com');
      expect(text).not.toContain('Rosario');
    }
    expect((await cli(bed.env, ['audit', 'verify'])).code).toBe(0);
  });
});

describe('audit', () => {
  it('lists the trail newest first with --since, --actor, --tenant, --action, --limit; text and JSON', async () => {
    await ensureTenant('listed-a');
    await ensureTenant('listed-b');
    for (const tenant of ['listed-a', 'listed-b']) expect((await cli(bed.env, ['tenants', 'disable', tenant])).code).toBe(0);
    const asCleo = await accountEnv('auditor', 'admin');
    expect((await cli(asCleo, ['tenants', 'enable', 'listed-a'])).code).toBe(0);

    const all = await cliJson<{ rows: AuditRow[] }>(bed.env, ['audit', '--limit', '1000']);
    const ids = all.rows.map((row) => row.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(all.rows[0]).toMatchObject({ actor: 'account:auditor', role: 'admin', action: 'tenant.change', tenant: 'listed-a' });

    const ofA = await cliJson<{ rows: AuditRow[] }>(bed.env, ['audit', '--tenant', 'listed-a', '--action', 'tenant.change']);
    expect(ofA.rows.map((row) => [row.actor, row.params.change])).toEqual([
      ['account:auditor', 'enable'],
      [OS_ACTOR, 'disable'],
      [OS_ACTOR, 'add'],
    ]);
    const byAccount = await cliJson<{ rows: AuditRow[] }>(bed.env, ['audit', '--actor', 'account:auditor']);
    expect(byAccount.rows).toHaveLength(1);
    const limited = await cliJson<{ rows: AuditRow[] }>(bed.env, ['audit', '--limit', '2']);
    expect(limited.rows.map((row) => row.id)).toEqual(ids.slice(0, 2));
    expect((await cliJson<{ rows: AuditRow[] }>(bed.env, ['audit', '--since', '1h'])).rows.length).toBe(Math.min(ids.length, 50));
    expect((await cliJson<{ rows: AuditRow[] }>(bed.env, ['audit', '--since', '2999-01-01'])).rows).toEqual([]);
    expect((await cli(bed.env, ['audit', '--since', 'yesterday'])).code).toBe(2);
    expect((await cli(bed.env, ['audit', '--limit', '0'])).code).toBe(2);

    const text = await cli(bed.env, ['audit', '--tenant', 'listed-a', '--action', 'tenant.change']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /account:auditor\s*│\s*admin\s*│\s*listed-a\s*│\s*tenant\.change\s*│\s*tenant=listed-a\s*│\s*change=enable\s*│\s*ok/,
    );

    // Reading the trail needs the admin role.
    const asViewer = await accountEnv('peeker', 'viewer');
    expect(await cli(asViewer, ['audit'])).toMatchObject({
      code: 1,
      stderr: 'ceres-jobs: audit.read needs the admin role (this account is viewer)\n',
    });
  });

  it('verify: exit 0 with the row count when whole; after an UPDATE with SQL, exit 1 naming the altered row', async () => {
    await ensureTenant('verified');
    await cli(bed.env, ['tenants', 'disable', 'verified']);
    await cli(bed.env, ['tenants', 'enable', 'verified']);
    const count = (await auditRows()).length;
    expect(await cli(bed.env, ['audit', 'verify'])).toEqual({
      code: 0,
      stdout: `the audit trail is whole: ${count} row(s) checked\n`,
      stderr: '',
    });
    expect(await cliJson(bed.env, ['audit', 'verify'])).toEqual({ rows: count, whole: true, firstBroken: null });

    const victim = (await auditRows()).at(-2)!;
    await bed.db.pool.query(`UPDATE audit_log SET outcome = 'error: covered up' WHERE id = $1`, [victim.id]);
    try {
      const broken = await cli(bed.env, ['audit', 'verify']);
      expect(broken.code).toBe(1);
      expect(broken.stderr).toBe(
        `ceres-jobs: the audit trail is broken at row ${victim.id}: its hash does not match its fields (the row was altered) (${count - 1} row(s) checked)\n`,
      );
      const json = await cli(bed.env, ['audit', 'verify', '--json']);
      expect(json.code).toBe(1);
      expect(JSON.parse(json.stdout)).toMatchObject({ whole: false, firstBroken: { id: Number(victim.id) } });
    } finally {
      await bed.db.pool.query('UPDATE audit_log SET outcome = $2 WHERE id = $1', [victim.id, victim.outcome]);
    }
    expect((await cli(bed.env, ['audit', 'verify'])).code).toBe(0);
  });
});

describe('no audit, no action', () => {
  it('with PostgreSQL unreachable a mutating command is refused (exit 1) and does nothing; reads keep working (the built bin)', async () => {
    const producer = bed.producer();
    await producer.enqueue('slack/alert', { text: 'to fail', dedupeKey: 'pg-down-1' });
    await failSlackJobs(bed.env, 1);
    await producer.enqueue('slack/alert', { text: 'waiting', dedupeKey: 'pg-down-2' });
    const failedId = (await producer.getQueue('slack').getFailed())[0]!.id!;
    const env = { ...bed.env, DATABASE_URL: 'postgres://ceres:secret-pass@127.0.0.1:1/ceres' };
    const rowsBefore = (await auditRows()).length;
    for (const args of [
      ['retry', 'slack', failedId],
      ['retry', 'slack', '--all'],
      ['pause', 'slack'],
      ['drain', 'slack', '--yes'],
      ['clean', 'slack', 'failed'],
    ]) {
      const result = await spawnCli(env, args, bed.cwd);
      expect(result, args.join(' ')).toEqual({
        code: 1,
        stdout: '',
        stderr:
          'ceres-jobs: not done: the audit trail cannot be written (PostgreSQL is unreachable at 127.0.0.1:1/ceres (ECONNREFUSED)); try again once it is back\n',
      });
    }
    const slack = producer.getQueue('slack');
    expect(await slack.getJobCounts('failed', 'waiting')).toEqual({ failed: 1, waiting: 1 });
    expect(await slack.isPaused()).toBe(false);
    expect((await auditRows()).length).toBe(rowsBefore);
    // Run as an account, the same: the account cannot be checked, nothing is done.
    const asAdmin = await accountEnv('pg-down-admin', 'admin');
    expect(await cli({ ...asAdmin, DATABASE_URL: env.DATABASE_URL }, ['pause', 'slack'])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^ceres-jobs: not done: the audit trail cannot be written \(PostgreSQL is unreachable/),
    });
    expect(await slack.isPaused()).toBe(false);
    // Reads need Redis only, as before.
    const stats = await spawnCli(env, ['stats', '--json'], bed.cwd);
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout).queues.slack).toMatchObject({ failed: 1, waiting: 1 });
    expect((await spawnCli(env, ['jobs', 'slack', '--state', 'failed'], bed.cwd)).code).toBe(0);
  }, 60_000);
});

describe('CERES_JOBS_USER: the role gates, the tenant confines', () => {
  it("a viewer is refused retry (exit 1 naming the role needed), nothing retried; an operator's retry is recorded as the account", async () => {
    const producer = bed.producer();
    await producer.enqueue('slack/alert', { text: 'to fail', dedupeKey: 'viewer-1' });
    await failSlackJobs(bed.env, 1);
    const id = (await producer.getQueue('slack').getFailed())[0]!.id!;
    const viewer = await accountEnv('vera', 'viewer');
    const before = (await auditRows()).length;
    for (const args of [
      ['retry', 'slack', id],
      ['retry', 'slack', '--all'],
    ]) {
      expect(await cli(viewer, args)).toEqual({
        code: 1,
        stdout: '',
        stderr: 'ceres-jobs: job.retry needs the operator role (this account is viewer)\n',
      });
    }
    expect(await cli(viewer, ['drain', 'slack', '--yes'])).toMatchObject({
      code: 1,
      stderr: 'ceres-jobs: queue.drain needs the admin role (this account is viewer)\n',
    });
    expect(await producer.getQueue('slack').getJobCounts('failed')).toEqual({ failed: 1 });
    expect((await auditRows()).length).toBe(before);
    expect((await cli(viewer, ['stats', '--json'])).code).toBe(0);
    expect((await cli(viewer, ['jobs', 'slack', '--state', 'failed', '--json'])).code).toBe(0);

    const operator = await accountEnv('otto', 'operator');
    expect(await cli(operator, ['erase', 'someone', '--yes'])).toMatchObject({
      code: 1,
      stderr: 'ceres-jobs: erasure needs the admin role (this account is operator)\n',
    });
    const rows = await rowsOf(async () => expect((await cli(operator, ['retry', 'slack', id])).code).toBe(0));
    expect(rows).toEqual([
      expect.objectContaining({
        actor: 'account:otto',
        role: 'operator',
        action: 'job.retry',
        target: { queue: 'slack', jobId: id },
        outcome: 'ok',
      }),
    ]);
    expect(await producer.getQueue('slack').getJobCounts('failed')).toEqual({ failed: 0 });
  });

  it("a tenant-scoped account never sees or touches another tenant's job", async () => {
    await ensureTenant('ta');
    await ensureTenant('tb');
    const producer = bed.producer();
    // Numbered ids (the tenant in the data only) and a deterministic one (the tenant in the id; held back, delayed, by its key).
    const ofA = await producer.enqueue('slack/alert', { text: 'of a' }, { tenant: 'ta' });
    const ofB = await producer.enqueue('slack/alert', { text: 'of b', dedupeKey: 'k' }, { tenant: 'tb' });
    const numberedB = await producer.enqueue('slack/alert', { text: 'numbered of b' }, { tenant: 'tb' });
    const [idA, idB, idNumberedB] = [ofA, ofB, numberedB].map((result) => result.jobId);

    const stateOf = async (id: string) => (await producer.getQueue('slack').getJob(id))?.getState();
    const stateOfB = await stateOf(idB!);
    expect(stateOfB).toBeDefined();
    const scoped = await accountEnv('tara', 'admin', 'ta');
    const listed = await cliJson<{ tenant: string; jobs: Array<{ id: string; tenant: string }> }>(scoped, ['jobs', 'slack']);
    expect(listed.tenant).toBe('ta');
    expect(listed.jobs.map((job) => job.id)).toEqual([idA]);
    const text = await cli(scoped, ['jobs', 'slack']);
    for (const id of [idB, idNumberedB]) expect(text.stdout).not.toMatch(new RegExp(`│ ${id} +│`));
    expect(text.stdout).toMatch(new RegExp(`│ ${idA} +│ ta +│`));
    expect((await cliJson<{ queues: { slack: { waiting: number } } }>(scoped, ['stats'])).queues.slack.waiting).toBe(1);

    expect(await cli(scoped, ['jobs', 'slack', '--tenant', 'tb'])).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'ceres-jobs: this account sees and acts on tenant "ta" only: --tenant tb refused\n',
    });
    for (const id of [idB, idNumberedB])
      expect(await cli(scoped, ['job', 'slack', id!])).toMatchObject({
        code: 1,
        stdout: '',
        stderr: `ceres-jobs: no job "${id}" in queue slack\n`,
      });
    expect((await cliJson<{ job: { id: string } }>(scoped, ['job', 'slack', idA!])).job.id).toBe(idA);
    expect((await cli(scoped, ['monitor', '--once'])).code).toBe(1);
    expect((await cli(scoped, ['pause', 'slack'])).code).toBe(1);
    expect((await cli(scoped, ['users', 'list'])).code).toBe(1);
    expect((await cliJson<{ tenants: Array<{ id: string }> }>(scoped, ['tenants', 'list'])).tenants.map((t) => t.id)).toEqual(['ta']);
    expect((await cli(scoped, ['tenants', 'show', 'tb'])).code).toBe(1);

    // Its drain removes its tenant's waiting jobs only, and says so in the audit row.
    const rows = await rowsOf(async () => expect((await cli(scoped, ['drain', 'slack', '--yes'])).code).toBe(0));
    expect(rows).toEqual([
      expect.objectContaining({ actor: 'account:tara', tenant_id: 'ta', action: 'queue.drain', params: { tenant: 'ta' } }),
    ]);
    expect(await stateOf(idA!)).toBeUndefined();
    expect(await stateOf(idNumberedB!)).toBe('waiting');
    expect(await stateOf(idB!)).toBe(stateOfB);
  });
});
