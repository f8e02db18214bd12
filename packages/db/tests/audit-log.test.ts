import { hashPassword, verifyPassword } from '@ceres/app-kit';
import { sharedPostgres, type PostgresPeer } from '@ceres/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { audited, AuditUnavailableError, createDb, maskAuditParams, type Db } from '../src';

let server: PostgresPeer;
let db: Db;

beforeAll(async () => {
  server = await sharedPostgres();
  db = createDb(server.url);
}, 60_000);

afterAll(async () => {
  await db?.close();
  await server?.close();
});

beforeEach(async () => {
  await db.pool.query('TRUNCATE audit_log');
});

const entry = (action: string, extra: object = {}) => ({
  actor: 'account:alice',
  role: 'admin',
  tenant: null,
  action,
  target: { queue: 'email', jobId: 'email:verify:user-1' },
  params: { status: 'failed' },
  outcome: 'ok',
  clientAddress: '127.0.0.1',
  ...extra,
});

describe('the audit trail', () => {
  it('chains rows: each hash covers the previous one, and verify walks the whole chain', async () => {
    const first = await db.audit.append(entry('job.retry'));
    const second = await db.audit.append(entry('queue.clean', { target: { queue: 'email' }, params: { grace: 0, status: 'completed' } }));
    expect(first.prevHash).toBe('0'.repeat(64));
    expect(second.prevHash).toBe(first.hash);
    expect(second.id).toBe(first.id + 1);
    expect(await db.audit.verify()).toEqual({ rows: 2, firstBroken: null });
    const [newest] = await db.audit.page({ limit: 1 });
    expect(newest).toMatchObject({ id: second.id, action: 'queue.clean', params: { grace: 0, status: 'completed' }, hash: second.hash });
  });

  it('names the first broken row after a row is altered with SQL, or removed', async () => {
    for (const action of ['job.retry', 'job.promote', 'queue.pause', 'queue.resume']) await db.audit.append(entry(action));
    const [, second, third] = (await db.audit.page()).reverse();
    await db.pool.query(`UPDATE audit_log SET outcome = 'error: nothing' WHERE id = $1`, [second!.id]);
    expect((await db.audit.verify()).firstBroken).toMatchObject({ id: second!.id, reason: expect.stringContaining('altered') });
    await db.pool.query(`UPDATE audit_log SET outcome = 'ok' WHERE id = $1`, [second!.id]);
    expect((await db.audit.verify()).firstBroken).toBeNull();
    await db.pool.query('DELETE FROM audit_log WHERE id = $1', [third!.id]);
    expect((await db.audit.verify()).firstBroken).toMatchObject({ id: third!.id + 1, reason: expect.stringContaining('removed') });
  });

  it('prunes old rows and vouches for the cut, so the chain still verifies; deleting the first rows without it does not', async () => {
    for (const action of ['job.retry', 'job.promote', 'queue.pause']) await db.audit.append(entry(action));
    await db.pool.query(`UPDATE audit_log SET at = at - interval '500 days' WHERE id <= 2`);
    // Rewriting `at` broke those rows' hashes; prune removes exactly them.
    expect(await db.audit.prune(400, { actor: 'os:cron', role: 'admin' })).toBe(2);
    expect(await db.audit.verify()).toEqual({ rows: 2, firstBroken: null });
    const [prune] = await db.audit.page({ action: 'audit.prune' });
    expect(prune!.params).toMatchObject({ olderThanDays: 400, lastId: 2 });
    await db.pool.query('DELETE FROM audit_log WHERE id = (SELECT min(id) FROM audit_log)');
    expect((await db.audit.verify()).firstBroken).not.toBeNull();
  });

  it('keeps personal data and secrets out of parameters', () => {
    expect(
      maskAuditParams({
        userId: 'user-7',
        email: 'ana@example.com',
        reason: 'asked by ana@example.com',
        nested: { token: 'x' },
        queue: 'email',
      }),
    ).toEqual({ userId: '***', email: '***', reason: 'asked by ***', nested: { token: '***' }, queue: 'email' });
  });

  it('audited(): records the outcome of the action, and refuses to act when the trail cannot be written', async () => {
    let ran = 0;
    await audited(db.audit, entry('job.retry'), async () => (ran += 1));
    await expect(
      audited(db.audit, entry('job.remove'), async () => {
        throw Object.assign(new Error('gone'), { code: 'JOB_NOT_FOUND' });
      }),
    ).rejects.toThrow('gone');
    const rows = await db.audit.page();
    expect(rows.map((row) => [row.action, row.outcome])).toEqual([
      ['job.remove', 'error: JOB_NOT_FOUND'],
      ['job.retry', 'ok'],
    ]);
    const down = createDb('postgres://nobody@127.0.0.1:1/none');
    try {
      await expect(audited(down.audit, entry('queue.clean'), async () => (ran += 1))).rejects.toBeInstanceOf(AuditUnavailableError);
    } finally {
      await down.close();
    }
    expect(ran).toBe(1);
  });
});

describe('operator accounts', () => {
  it('stores a scrypt hash, never the password, and changes role, tenant, password and state', async () => {
    await db.pool.query('DELETE FROM operator_accounts');
    const hash = await hashPassword('correct horse battery staple');
    expect(hash).toMatch(/^scrypt\$32768\$8\$1\$/);
    expect(await db.accounts.add({ name: 'helpdesk', role: 'viewer', tenant: 'default', passwordHash: hash })).toBe(true);
    expect(await db.accounts.add({ name: 'helpdesk', role: 'admin', tenant: null, passwordHash: hash })).toBe(false);
    const stored = await db.accounts.get('helpdesk');
    expect(stored).toMatchObject({ role: 'viewer', tenant: 'default', disabledAt: null });
    expect(JSON.stringify(await db.pool.query('SELECT * FROM operator_accounts').then((r) => r.rows))).not.toContain('correct horse');
    expect(await verifyPassword('correct horse battery staple', stored!.passwordHash)).toBe(true);
    expect(await verifyPassword('wrong', stored!.passwordHash)).toBe(false);
    expect(await db.accounts.setRole('helpdesk', 'operator', null)).toBe(true);
    expect(await db.accounts.setDisabled('helpdesk', true)).toBe(true);
    expect(await db.accounts.get('helpdesk')).toMatchObject({ role: 'operator', tenant: null, disabledAt: expect.any(Date) });
    expect(await db.accounts.setRole('nobody', 'admin')).toBe(false);
    await expect(db.accounts.add({ name: 'Bad Name', role: 'viewer', tenant: null, passwordHash: hash })).rejects.toThrow();
  });

  it('gives API tokens the enqueue scope by default and keeps the scopes given', async () => {
    await db.tenants.add('scoped', { name: 'Scoped' });
    await db.apiTokens.insert({ id: 'tok-a', tenantId: 'scoped', name: null, keyVersion: 'k1', tokenHash: 'hash-a' });
    await db.apiTokens.insert({
      id: 'tok-b',
      tenantId: 'scoped',
      name: null,
      keyVersion: 'k1',
      tokenHash: 'hash-b',
      scopes: ['campaigns'],
    });
    const tokens = (await db.apiTokens.active()).filter((token) => token.tenantId === 'scoped');
    expect(Object.fromEntries(tokens.map((token) => [token.id, token.scopes]))).toEqual({ 'tok-a': ['enqueue'], 'tok-b': ['campaigns'] });
    await expect(
      db.apiTokens.insert({
        id: 'tok-c',
        tenantId: 'scoped',
        name: null,
        keyVersion: 'k1',
        tokenHash: 'hash-c',
        scopes: ['admin' as never],
      }),
    ).rejects.toThrow();
  });
});
