import { sharedPostgres, type PostgresPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../src';

let server: PostgresPeer;
let db: Db;
let others: Db[];

beforeAll(async () => {
  // A copy of the run's migrated template database.
  server = await sharedPostgres();
  db = createDb(server.url);
  // Separate pools, as separate worker processes would have.
  others = [createDb(server.url), createDb(server.url), createDb(server.url)];
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([db, ...others].map((pool) => pool?.close()));
  await server?.close();
});

const content = { subject: 'Hola {{firstName}}', text: 'Texto', html: null };
const people = (count: number, prefix = 'u') =>
  Array.from({ length: count }, (_, i) => ({
    userId: `${prefix}-${String(i).padStart(4, '0')}`,
    email: `${prefix}${i}@Example.com`,
    firstName: `N${i}`,
  }));

describe('the newsletter store (migration 005)', () => {
  it('pages the pending recipients in user id order, skipping those with an outcome', async () => {
    const id = await db.newsletter.createCampaign(content);
    await db.newsletter.addRecipients(id, people(7));
    await db.newsletter.start(id);
    await db.newsletter.recordOutcome(id, 'u-0001', 'sent', { messageId: '<m@x>' });
    expect(await db.newsletter.pendingPage(id, null, 3)).toEqual(['u-0000', 'u-0002', 'u-0003']);
    expect(await db.newsletter.pendingPage(id, 'u-0003', 3)).toEqual(['u-0004', 'u-0005', 'u-0006']);
    expect(await db.newsletter.pendingPage(id, 'u-0006', 3)).toEqual([]);
  });

  it('closes a campaign once however many processes finish its last recipients at the same moment', async () => {
    for (let round = 0; round < 5; round++) {
      const id = await db.newsletter.createCampaign(content);
      await db.newsletter.addRecipients(id, people(12));
      await db.newsletter.start(id);
      const closers = people(12).map(async ({ userId }, i) => {
        const pool = others[i % others.length]!;
        await pool.newsletter.recordOutcome(id, userId, i === 3 ? 'failed' : 'sent', { error: i === 3 ? 'SMTP 550' : undefined });
        return pool.newsletter.closeIfDone(id);
      });
      const closed = (await Promise.all(closers)).filter((campaign) => campaign !== null);
      // Every closer that saw it finished but not yet announced gets it; one announcement follows.
      expect(closed.length).toBeGreaterThanOrEqual(1);
      expect(closed[0]).toMatchObject({ state: 'done', figures: { total: 12, sent: 11, failed: 1, pending: 0 } });
      await db.newsletter.markAnnounced(id);
      expect(await db.newsletter.closeIfDone(id)).toBeNull();
      const { rows } = await db.pool.query('SELECT state, finished_at IS NOT NULL AS finished FROM newsletter_campaigns WHERE id = $1', [
        id,
      ]);
      expect(rows).toEqual([{ state: 'done', finished: true }]);
    }
  });

  it('cancel: pending recipients become cancelled; a mail in flight still counts as sent; a skip does not replace an outcome', async () => {
    const id = await db.newsletter.createCampaign(content);
    await db.newsletter.addRecipients(id, people(4));
    await db.newsletter.start(id);
    await db.newsletter.recordOutcome(id, 'u-0000', 'sent');
    const cancelled = await db.newsletter.cancel(id);
    expect(cancelled).toMatchObject({ found: true, before: 'sending', changed: true });
    expect(cancelled.cancelledUserIds!.sort()).toEqual(['u-0001', 'u-0002', 'u-0003']);
    expect(await db.newsletter.recordOutcome(id, 'u-0001', 'sent')).toBe(true);
    expect(await db.newsletter.recordOutcome(id, 'u-0002', 'unsubscribed')).toBe(false);
    expect(await db.newsletter.figures(id)).toEqual({ total: 4, sent: 2, failed: 0, pending: 0, unsubscribed: 0, cancelled: 2 });
    expect(await db.newsletter.cancel(id)).toEqual({ found: true, before: 'cancelled', changed: false });
    expect(await db.newsletter.start(id)).toEqual({ found: true, before: 'cancelled', changed: false });
    expect((await db.newsletter.closeIfDone(id))?.state).toBe('cancelled');
  });

  it('records an opt-out by address (any case) and user, once', async () => {
    const id = await db.newsletter.createCampaign(content);
    await db.newsletter.addRecipients(id, people(2, 'opt'));
    expect(await db.newsletter.unsubscribe(id, 'opt-0000')).toBe('recorded');
    expect(await db.newsletter.unsubscribe(id, 'opt-0000')).toBe('already');
    expect(await db.newsletter.unsubscribe(id, 'nobody')).toBe('unknown');
    const next = await db.newsletter.createCampaign(content);
    await db.newsletter.addRecipients(next, [
      { userId: 'someone-else', email: 'OPT0@example.COM', firstName: 'A' },
      { userId: 'opt-0000', email: 'new-address@example.com', firstName: 'B' },
      { userId: 'opt-0001', email: 'opt1@example.com', firstName: 'C' },
    ]);
    expect((await db.newsletter.sendContext(next, 'someone-else'))?.unsubscribed).toBe(true);
    expect((await db.newsletter.sendContext(next, 'opt-0000'))?.unsubscribed).toBe(true);
    expect((await db.newsletter.sendContext(next, 'opt-0001'))?.unsubscribed).toBe(false);
  });

  it('adds recipients to drafts only, counting duplicates', async () => {
    const id = await db.newsletter.createCampaign(content);
    expect(await db.newsletter.addRecipients(id, [...people(3), ...people(2)])).toEqual({ state: 'draft', added: 3, duplicates: 2 });
    await db.newsletter.start(id);
    expect(await db.newsletter.addRecipients(id, people(5))).toEqual({ state: 'sending', added: 0, duplicates: 0 });
    expect(await db.newsletter.addRecipients('0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b', people(1))).toEqual({
      state: null,
      added: 0,
      duplicates: 0,
    });
  });
});

describe('erasing a user from the newsletter tables', () => {
  it('blanks their address and name, cancels what was pending, keeps their opt-out by user id only, and leaves the others', async () => {
    const sending = await db.newsletter.createCampaign(content);
    await db.newsletter.addRecipients(sending, people(3, 'er'));
    await db.newsletter.start(sending);
    await db.newsletter.recordOutcome(sending, 'er-0001', 'sent', { messageId: '<m@x>' });
    const draft = await db.newsletter.createCampaign(content);
    await db.newsletter.addRecipients(draft, people(2, 'er'));
    expect(await db.newsletter.unsubscribe(draft, 'er-0000')).toBe('recorded');

    const erased = await db.newsletter.eraseUser('er-0000');
    expect(erased).toEqual({ recipients: 2, optOuts: 1, sendingCampaigns: [sending] });
    expect(await db.newsletter.sendContext(sending, 'er-0000')).toMatchObject({ email: '', status: 'cancelled' });
    expect(await db.newsletter.sendContext(draft, 'er-0000')).toMatchObject({ email: '', unsubscribed: true });
    expect(await db.newsletter.sendContext(sending, 'er-0002')).toMatchObject({ email: 'er2@Example.com', status: 'pending' });
    expect((await db.newsletter.figures(sending)).total).toBe(3);
    // Again: nothing left to erase.
    expect(await db.newsletter.eraseUser('er-0000')).toEqual({ recipients: 0, optOuts: 0, sendingCampaigns: [] });

    // An erased recipient who never opted out can still do so (the link names campaign and user).
    await db.newsletter.eraseUser('er-0001');
    expect(await db.newsletter.unsubscribe(sending, 'er-0001')).toBe('recorded');
    expect(await db.newsletter.unsubscribe(draft, 'er-0001')).toBe('already');
    expect(await db.newsletter.sendContext(draft, 'er-0001')).toMatchObject({ unsubscribed: true });
  });
});
