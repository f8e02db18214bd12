import { sharedPostgres, type PostgresPeer } from '@ceres/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cp } from 'node:fs/promises';
import { makeTempDir } from '@ceres/testing';
import { createDb, migrate, MIGRATIONS_DIR, type Db } from '../src';

// Issue 24: opt-outs and erasure of the newsletter tables, against a real PostgreSQL.
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

const content = { subject: 'Hola', text: 'Texto', html: null };

async function optOutsOf(userId: string): Promise<Array<{ email: string }>> {
  const { rows } = await db.pool.query<{ email: string }>('SELECT email FROM newsletter_unsubscribes WHERE user_id = $1', [userId]);
  return rows;
}

describe('newsletter opt-outs (issue 24)', () => {
  it('item 1: records the second user of a shared address who opts out, so a change of address or the erasure of the other keeps them out', async () => {
    const id = await db.newsletter.createCampaign(content);
    await db.newsletter.addRecipients(id, [
      { userId: 'shared-a', email: 'Family@example.com', firstName: 'A' },
      { userId: 'shared-b', email: 'family@example.com', firstName: 'B' },
    ]);
    expect(await db.newsletter.unsubscribe(id, 'shared-a')).toBe('recorded');
    expect(await db.newsletter.unsubscribe(id, 'shared-b')).toBe('recorded');
    expect(await db.newsletter.unsubscribe(id, 'shared-b')).toBe('already');
    expect(await optOutsOf('shared-b')).toHaveLength(1);

    // B changes address; A is erased: B must still be skipped.
    await db.newsletter.eraseUser('shared-a');
    const next = await db.newsletter.createCampaign(content);
    await db.newsletter.addRecipients(next, [{ userId: 'shared-b', email: 'b-new@example.com', firstName: 'B' }]);
    expect((await db.newsletter.sendContext(next, 'shared-b'))?.unsubscribed).toBe(true);
  });

  it('item 9: erases an opt-out whose address starts with "erased" like any other', async () => {
    const id = await db.newsletter.createCampaign(content);
    await db.newsletter.addRecipients(id, [{ userId: 'smith', email: 'erased.smith@example.com', firstName: 'S' }]);
    expect(await db.newsletter.unsubscribe(id, 'smith')).toBe('recorded');
    expect((await db.newsletter.eraseUser('smith')).optOuts).toBe(1);
    const rows = await optOutsOf('smith');
    expect(rows).toHaveLength(1);
    // The address is gone (without a keyed digest given, only the user id is kept).
    expect(rows[0]!.email).not.toContain('@example.com');
    // Erased once: a second erasure has nothing left to do.
    expect((await db.newsletter.eraseUser('smith')).optOuts).toBe(0);
  });

  it('item 19: an unsubscribe racing an erasure never leaves the address in clear', async () => {
    const id = await db.newsletter.createCampaign(content);
    await db.newsletter.addRecipients(id, [{ userId: 'racer', email: 'racer@example.com', firstName: 'R' }]);
    // A transaction holding the same opt-out key uncommitted makes the unsubscribe's insert wait
    // right after it read the address: the moment an erasure can slip in.
    const blocker = new pg.Client({ connectionString: server.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query("INSERT INTO newsletter_unsubscribes (email, user_id) VALUES ('racer@example.com', 'racer')");
      const waiting = async (count: number) => {
        const { rows } = await blocker.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()",
        );
        return rows[0]!.n >= count;
      };
      const unsubscribed = db.newsletter.unsubscribe(id, 'racer');
      for (let i = 0; i < 200 && !(await waiting(1)); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      let erasureDone = false;
      const erased = db.newsletter.eraseUser('racer').finally(() => {
        erasureDone = true;
      });
      // The erasure either finishes (nothing orders it after the unsubscribe) or waits for it.
      for (let i = 0; i < 200 && !erasureDone && !(await waiting(2)); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      await blocker.query('ROLLBACK');
      await Promise.all([unsubscribed, erased]);
    } finally {
      await blocker.end();
    }
    const rows = await optOutsOf('racer');
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.map((row) => row.email).join()).not.toContain('racer@');
  });
});

describe('migration 008 (issue 24 item 15)', () => {
  it('replaces the unsalted SHA-256 of erased opt-outs by the user id alone', async () => {
    const url = await server.createDatabase('legacy_opt_outs');
    const before = await makeTempDir('migrations-007');
    try {
      for (const file of [
        '001_initial.sql',
        '002_failed_jobs_retried.sql',
        '003_sent_mails.sql',
        '004_personal_data.sql',
        '005_newsletter.sql',
        '006_opt_outs_per_user.sql',
        '007_opt_out_erased_at.sql',
      ]) {
        await cp(`${MIGRATIONS_DIR}/${file}`, `${before.path}/${file}`);
      }
      await migrate(url, { dir: before.path });
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const hash = (n: number) => 'erased:' + String(n).repeat(64);
        await client.query(
          `INSERT INTO newsletter_unsubscribes (email, user_id, erased_at) VALUES ($1, 'old-1', now()), ($2, 'old-1', now()), ($3, 'old-2', now()), ('keep@example.com', 'old-3', NULL)`,
          [hash(1), hash(2), hash(3)],
        );
        await migrate(url);
        const { rows } = await client.query(
          'SELECT email, user_id, erased_at IS NOT NULL AS erased FROM newsletter_unsubscribes ORDER BY user_id',
        );
        expect(rows).toEqual([
          { email: 'erased-user:old-1', user_id: 'old-1', erased: true },
          { email: 'erased-user:old-2', user_id: 'old-2', erased: true },
          { email: 'keep@example.com', user_id: 'old-3', erased: false },
        ]);
      } finally {
        await client.end();
      }
    } finally {
      await before.remove();
    }
  });
});
