import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { makeTempDir, sharedPostgres, type PostgresPeer } from '@ceres/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, databaseUrlFromEnv, hashToken, migrate, readMigrations, type Db } from '../src';

const run = promisify(execFile);
let server: PostgresPeer;
let db: Db;

beforeAll(async () => {
  // A copy of the run's migrated template database.
  server = await sharedPostgres();
  db = createDb(server.url);
}, 60_000);

afterAll(async () => {
  await db?.close();
  await server?.close();
});

const HOUR = 3_600_000;

describe('migrations', () => {
  it('ships numbered migrations that are recorded once and not re-applied', async () => {
    const migrations = await readMigrations();
    // Numbered 1, 2, 3, … without a gap; a new migration takes the next number.
    expect(migrations.map((m) => m.version)).toEqual(migrations.map((_m, index) => index + 1));
    expect(migrations.length).toBeGreaterThanOrEqual(9);
    expect(await migrate(server.url)).toEqual([]);
    const { rows } = await db.pool.query('SELECT version, name FROM schema_migrations ORDER BY version');
    expect(rows).toEqual(migrations.map(({ version, name }) => ({ version, name })));
    expect(rows.slice(0, 9)).toEqual([
      { version: 1, name: 'initial' },
      { version: 2, name: 'failed_jobs_retried' },
      { version: 3, name: 'sent_mails' },
      { version: 4, name: 'personal_data' },
      { version: 5, name: 'newsletter' },
      { version: 6, name: 'opt_outs_per_user' },
      { version: 7, name: 'opt_out_erased_at' },
      { version: 8, name: 'opt_out_unsalted_hashes' },
      { version: 9, name: 'sent_mails_sending' },
    ]);
  });

  it('is safe to run concurrently: a fresh database migrated by four runners at once ends up migrated once', async () => {
    const url = await server.createDatabase('concurrent_migrations');
    const results = await Promise.all([1, 2, 3, 4].map(() => migrate(url)));
    expect(results.flat()).toEqual((await readMigrations()).map((m) => m.version));
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query(
      "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name IN ('verification_tokens', 'failed_jobs')",
    );
    await client.end();
    expect(rows[0].n).toBe(2);
  });

  it('rolls a failing migration back entirely and records nothing', async () => {
    const url = await server.createDatabase('failing_migration');
    const { writeFile } = await import('node:fs/promises');
    const dir = await makeTempDir('migrations');
    let versions: number[];
    let tables: string[];
    try {
      await writeFile(`${dir.path}/001_ok.sql`, 'CREATE TABLE a (id int);');
      await writeFile(`${dir.path}/002_broken.sql`, 'CREATE TABLE b (id int); SELECT * FROM no_such_table;');
      await expect(migrate(url, { dir: dir.path })).rejects.toThrow(/002_broken.sql failed/);
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      versions = (await client.query('SELECT version FROM schema_migrations')).rows.map((r) => r.version);
      tables = (await client.query("SELECT table_name FROM information_schema.tables WHERE table_name IN ('a','b')")).rows.map(
        (r) => r.table_name,
      );
      await client.end();
    } finally {
      await dir.remove();
    }
    expect(versions).toEqual([1]);
    expect(tables).toEqual(['a']);
  });

  it('the CLI migrates DATABASE_URL and names the variable when it is missing or malformed', async () => {
    const cli = ['--import', 'tsx', 'packages/db/src/cli.ts', 'migrate'];
    const url = await server.createDatabase('cli_migrations');
    const ok = await run(process.execPath, cli, { env: { ...process.env, DATABASE_URL: url } });
    expect(ok.stdout).toContain('applied 001_initial.sql');
    const again = await run(process.execPath, cli, { env: { ...process.env, DATABASE_URL: url } });
    expect(again.stdout).toContain('up to date');
    const missing = await run(process.execPath, cli, { env: { ...process.env, DATABASE_URL: '' } }).catch((e) => e);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('DATABASE_URL');
    const bad = await run(process.execPath, cli, { env: { ...process.env, DATABASE_URL: 'mysql://x/y' } }).catch((e) => e);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/DATABASE_URL must start with postgres/);
  });

  it('databaseUrlFromEnv never echoes a password', () => {
    expect(() => databaseUrlFromEnv({ DATABASE_URL: 'postgres://u:s3cret@host' })).toThrow(/DATABASE_URL/);
    try {
      databaseUrlFromEnv({ DATABASE_URL: 'postgres://u:s3cret@host' });
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cret');
    }
  });
});

describe('verification tokens', () => {
  it('finds a valid token, tells an expired one apart, and deletes only the expired ones', async () => {
    const now = new Date();
    await db.tokens.insert({ token: 'valid-token-aaaaaaaa', userId: 'u1', expiresAt: new Date(now.getTime() + HOUR) });
    await db.tokens.insert({ token: 'expired-token-bbbbbb', userId: 'u2', expiresAt: new Date(now.getTime() - HOUR) });
    expect((await db.tokens.findValid('valid-token-aaaaaaaa', now))?.userId).toBe('u1');
    expect(await db.tokens.findValid('expired-token-bbbbbb', now)).toBeNull();
    expect((await db.tokens.find('expired-token-bbbbbb'))?.userId).toBe('u2');
    expect(await db.tokens.find('unknown-token-cccccc')).toBeNull();
    expect(await db.tokens.deleteExpired(now)).toBe(1);
    expect(await db.tokens.find('expired-token-bbbbbb')).toBeNull();
    expect(await db.tokens.find('valid-token-aaaaaaaa')).not.toBeNull();
  });
});

describe('hashed token stores', () => {
  it('keep only the SHA-256 of a token; find, consume once, delete the expired ones and those of a user', async () => {
    // The table a job type's migration creates (see src/hashed-tokens.ts).
    await db.pool.query(`CREATE TABLE test_hashed_tokens (
      token_hash text PRIMARY KEY, user_id text NOT NULL, expires_at timestamptz NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),
      tenant_id text NOT NULL DEFAULT 'default' REFERENCES tenants (id))`);
    await db.tenants.add('tokens-x', { name: 'X' });
    const store = db.hashedTokens('test_hashed_tokens');
    expect(db.hashedTokens('test_hashed_tokens')).toBe(store);
    const now = new Date();
    await store.insert({ token: 'valid-reset-token-aaaaaaaaaaaaaaaaaaaaaaa', userId: 'u1', expiresAt: new Date(now.getTime() + HOUR) });
    await store.insert({ token: 'expired-reset-token-bbbbbbbbbbbbbbbbbbbbb', userId: 'u2', expiresAt: new Date(now.getTime() - HOUR) });
    await store.insert({ token: 'other-reset-token-ccccccccccccccccccccccc', userId: 'u1', expiresAt: new Date(now.getTime() + HOUR) });
    await store.insert({ token: 'kept-reset-token-ddddddddddddddddddddddddd', userId: 'u3', expiresAt: new Date(now.getTime() + HOUR) });
    // User u1 of another tenant: another person.
    await store.insert({
      token: 'x-u1-reset-token-eeeeeeeeeeeeeeeeeeeeeeee',
      userId: 'u1',
      expiresAt: new Date(now.getTime() + HOUR),
      tenant: 'tokens-x',
    });
    const { rows } = await db.pool.query<{ token_hash: string }>('SELECT token_hash FROM test_hashed_tokens ORDER BY token_hash');
    expect(JSON.stringify(rows)).not.toMatch(/reset-token/);
    expect(rows.map((row) => row.token_hash)).toContain(hashToken('valid-reset-token-aaaaaaaaaaaaaaaaaaaaaaa'));
    expect(hashToken('x')).toMatch(/^[0-9a-f]{64}$/);

    expect((await store.find('expired-reset-token-bbbbbbbbbbbbbbbbbbbbb'))?.userId).toBe('u2');
    expect(await store.findValid('expired-reset-token-bbbbbbbbbbbbbbbbbbbbb', now)).toBeNull();
    expect(await store.find('unknown-reset-token')).toBeNull();
    expect((await store.findValid('valid-reset-token-aaaaaaaaaaaaaaaaaaaaaaa', now))?.userId).toBe('u1');
    expect(await store.consume('expired-reset-token-bbbbbbbbbbbbbbbbbbbbb', now)).toBeNull();
    expect((await store.consume('valid-reset-token-aaaaaaaaaaaaaaaaaaaaaaa', now))?.userId).toBe('u1');
    expect(await store.consume('valid-reset-token-aaaaaaaaaaaaaaaaaaaaaaa', now)).toBeNull();
    expect(await store.deleteExpired(now)).toBe(1);
    expect(await store.deleteForUser('u1')).toBe(1);
    expect(await store.find('x-u1-reset-token-eeeeeeeeeeeeeeeeeeeeeeee')).toMatchObject({ userId: 'u1', tenant: 'tokens-x' });
    expect(await store.deleteForUser('u1', 'tokens-x')).toBe(1);
    expect(await store.find('x-u1-reset-token-eeeeeeeeeeeeeeeeeeeeeeee')).toBeNull();
    expect((await store.find('kept-reset-token-ddddddddddddddddddddddddd'))?.userId).toBe('u3');
    expect(() => db.hashedTokens('tokens; DROP TABLE failed_jobs')).toThrow(/not a plain lower-case table name/);
  });
});

describe('failed jobs archive: what jsonb and text refuse', () => {
  it('archives a payload with a lone surrogate, a NUL (in a value and a key) and a NUL in the error, as U+FFFD', async () => {
    const failedAt = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    const stored = await db.failedJobs.archive({
      queue: 'email',
      jobName: 'welcome',
      jobId: 'email:welcome:poison',
      payload: { firstName: 'Ana\ud800', note: 'a\u0000b', ['k\u0000']: ['\udc00'], fine: 'José 😀' },
      error: 'reason\u0000here',
      stacktrace: 'at \u0000x',
      attemptsMade: 1,
      failedAt,
    });
    expect(stored).toBe(true);
    const [row] = await db.failedJobs.list({ queue: 'email', jobId: 'email:welcome:poison' });
    expect(row!.payload).toEqual({ firstName: 'Ana\ufffd', note: 'a\ufffdb', ['k\ufffd']: ['\ufffd'], fine: 'José 😀' });
    expect(row!.error).toBe('reason\ufffdhere');
    expect(row!.stacktrace).toBe('at \ufffdx');
  });

  it('tells which of a page of failures are archived in one query', async () => {
    const base = Date.UTC(2026, 0, 3);
    for (const n of [0, 2]) {
      await db.failedJobs.archive({
        queue: 'slack',
        jobName: 'alert',
        jobId: `page-${n}`,
        payload: {},
        error: 'x',
        attemptsMade: 3,
        failedAt: new Date(base + n),
      });
    }
    const keys = [0, 1, 2, 3].map((n) => ({ jobId: `page-${n}`, failedAt: new Date(base + n) }));
    expect([...(await db.failedJobs.archivedAmong('slack', keys))].sort()).toEqual([0, 2]);
    // Same id, another final failure: not archived.
    expect(await db.failedJobs.archivedAmong('slack', [{ jobId: 'page-0', failedAt: new Date(base + 99) }])).toEqual(new Set());
    expect(await db.failedJobs.archivedAmong('email', keys)).toEqual(new Set());
    expect(await db.failedJobs.archivedAmong('slack', [])).toEqual(new Set());
  });
});

describe('sent mails', () => {
  it('records a mail once per job (id and creation time) and finds it again', async () => {
    const key = { queue: 'email', jobId: 'email:verify:u-sent', jobCreatedAt: new Date(Date.UTC(2026, 0, 4)) };
    expect(await db.sentMails.find(key)).toBeNull();
    expect(await db.sentMails.record({ ...key, messageId: '<a@ceres>' })).toBe(true);
    expect(await db.sentMails.record({ ...key, messageId: '<b@ceres>' })).toBe(false);
    expect(await db.sentMails.find(key)).toBe('<a@ceres>');
    // The same job id reused by a later job is another job.
    expect(await db.sentMails.find({ ...key, jobCreatedAt: new Date(Date.UTC(2026, 0, 5)) })).toBeNull();
    expect(await db.sentMails.deleteSentBefore(new Date(Date.now() + 60_000))).toBeGreaterThanOrEqual(1);
    expect(await db.sentMails.find(key)).toBeNull();
  });

  it('a mail being sent (intend) is not found as sent until recorded; an accepted one is not overwritten', async () => {
    const key = { queue: 'email', jobId: 'email:welcome:u-intent', jobCreatedAt: new Date(Date.UTC(2026, 0, 6)) };
    expect(await db.sentMails.lookup(key)).toBeNull();
    expect(await db.sentMails.intend({ ...key, messageId: '<i1@ceres>', run: { attempt: 0, stalled: 0 } })).toBe(true);
    expect(await db.sentMails.find(key)).toBeNull();
    expect(await db.sentMails.lookup(key)).toEqual({ messageId: '<i1@ceres>', sending: { attempt: 0, stalled: 0 } });
    expect(await db.sentMails.intend({ ...key, messageId: '<i2@ceres>', run: { attempt: 1, stalled: 0 } })).toBe(true);
    expect(await db.sentMails.record({ ...key, messageId: '<i2@ceres>' })).toBe(true);
    expect(await db.sentMails.lookup(key)).toEqual({ messageId: '<i2@ceres>', sending: null });
    expect(await db.sentMails.intend({ ...key, messageId: '<i3@ceres>', run: { attempt: 2, stalled: 0 } })).toBe(false);
    expect(await db.sentMails.record({ ...key, messageId: '<i3@ceres>' })).toBe(false);
    expect(await db.sentMails.find(key)).toBe('<i2@ceres>');
  });
});

describe('failed jobs archive', () => {
  const row = (jobId: string, failedAt: Date, error = 'boom') => ({
    queue: 'email',
    jobName: 'welcome',
    jobId,
    payload: { userId: jobId },
    error,
    stacktrace: 'Error: boom\n    at x',
    attemptsMade: 6,
    failedAt,
  });

  it('archives one final failure once, however many processes try at the same time', async () => {
    const failedAt = new Date(1_700_000_000_123);
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => db.failedJobs.archive(row('email:welcome:a', failedAt))));
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await db.failedJobs.has({ queue: 'email', jobId: 'email:welcome:a', failedAt })).toBe(true);
    const rows = await db.failedJobs.list({ queue: 'email', jobId: 'email:welcome:a' });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ jobName: 'welcome', attemptsMade: 6, payload: { userId: 'email:welcome:a' } });
    expect(rows[0]!.failedAt.getTime()).toBe(failedAt.getTime());
  });

  it('archives a page of final failures in one statement: the new ones counted, the known ones left, unstorable text as U+FFFD', async () => {
    const failedAt = new Date(1_700_000_200_000);
    await db.failedJobs.archive(row('email:welcome:m0', failedAt));
    const page = [
      row('email:welcome:m0', failedAt),
      row('email:welcome:m1', failedAt),
      { ...row('email:welcome:m2', failedAt), error: 'bad\u0000reason', stacktrace: null },
    ];
    expect(await db.failedJobs.archiveMany(page)).toBe(2);
    expect(await db.failedJobs.archiveMany(page)).toBe(0);
    expect(await db.failedJobs.archiveMany([])).toBe(0);
    const [m1] = await db.failedJobs.list({ queue: 'email', jobId: 'email:welcome:m1' });
    expect(m1).toMatchObject({
      jobName: 'welcome',
      attemptsMade: 6,
      payload: { userId: 'email:welcome:m1' },
      stacktrace: 'Error: boom\n    at x',
    });
    expect(m1!.failedAt.getTime()).toBe(failedAt.getTime());
    const [m2] = await db.failedJobs.list({ queue: 'email', jobId: 'email:welcome:m2' });
    expect(m2).toMatchObject({ error: 'bad\ufffdreason', stacktrace: null });
    expect(await db.failedJobs.list({ queue: 'email', jobId: 'email:welcome:m0' })).toHaveLength(1);
  });

  it('keeps a later failure of the same job id as its own row', async () => {
    await db.failedJobs.archive(row('email:welcome:b', new Date(1_700_000_000_000)));
    await db.failedJobs.archive(row('email:welcome:b', new Date(1_700_000_100_000)));
    expect(await db.failedJobs.list({ queue: 'email', jobId: 'email:welcome:b' })).toHaveLength(2);
  });

  it('counts failures and ranks their reasons since a date', async () => {
    const since = new Date(Date.now() - HOUR);
    const recent = (n: number) => new Date(Date.now() - n * 1000);
    await db.failedJobs.archive(row('email:welcome:c1', recent(1), 'SMTP 451'));
    await db.failedJobs.archive(row('email:welcome:c2', recent(2), 'SMTP 451'));
    await db.failedJobs.archive(row('email:welcome:c3', recent(3), 'SMTP 550'));
    await db.failedJobs.archive({ ...row('slack:alert:x', recent(4), 'HTTP 500'), queue: 'slack', jobName: 'alert' });
    expect(await db.failedJobs.countSince(since)).toEqual({ email: 3, slack: 1 });
    expect(await db.failedJobs.topReasonsSince(since, 2)).toEqual([
      { queue: 'email', reason: 'SMTP 451', count: 2 },
      { queue: 'email', reason: 'SMTP 550', count: 1 },
    ]);
  });
});
