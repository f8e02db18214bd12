import { DEFAULT_TENANT } from '@ceres/app-kit';
import type pg from 'pg';
import { storableString } from './storable';

export const CAMPAIGN_STATES = ['draft', 'sending', 'done', 'cancelled'] as const;
export type CampaignState = (typeof CAMPAIGN_STATES)[number];

/** A recipient's outcome: `pending` until its send job decides. */
export type RecipientStatus = 'pending' | 'sent' | 'failed' | 'unsubscribed' | 'cancelled';

export interface CampaignContent {
  subject: string;
  text: string;
  html: string | null;
}

export interface Campaign extends CampaignContent {
  id: string;
  /** The tenant whose campaign it is (its recipients are that tenant's users). */
  tenant: string;
  state: CampaignState;
  createdAt: Date;
  startedAt: Date | null;
  cancelledAt: Date | null;
  /** Every recipient has an outcome. */
  finishedAt: Date | null;
}

/** How many recipients have each outcome; `total` is their sum. */
export interface CampaignFigures {
  total: number;
  sent: number;
  failed: number;
  pending: number;
  unsubscribed: number;
  cancelled: number;
}

export interface NewRecipient {
  userId: string;
  email: string;
  firstName: string;
}

/** What a send job reads at send time: the campaign's state now, and the recipient's row. */
export interface SendContext {
  state: CampaignState;
  email: string;
  firstName: string;
  status: RecipientStatus;
  /** The address or the user opted out. */
  unsubscribed: boolean;
}

/** The answer of a state change: whether the campaign exists, its state before, and whether it changed. */
export type Transition = { found: false } | { found: true; before: CampaignState; changed: boolean };

/**
 * `tenant` on the functions the API calls: only that tenant's campaign is found; another tenant's
 * answers as an unknown id does. Without it (the worker, whose jobs name a campaign by its UUID)
 * any campaign is found.
 */
export interface TenantScope {
  tenant?: string;
}

export interface NewsletterStore {
  /** A draft of `tenant` (`default` when absent). */
  createCampaign(content: CampaignContent, scope?: TenantScope): Promise<string>;
  getCampaign(id: string, scope?: TenantScope): Promise<Campaign | null>;
  /** The state alone (no bodies): what the fan-out checks before each page. */
  state(id: string): Promise<CampaignState | null>;
  /** The subject and bodies; they never change once created, so callers may cache them. */
  content(id: string): Promise<CampaignContent | null>;
  figures(id: string): Promise<CampaignFigures>;
  /**
   * Adds recipients to a draft (a user already in the campaign, or twice in `recipients`, counts as
   * a duplicate). A start waits for an add in progress, so the fan-out sees every added row.
   */
  addRecipients(
    id: string,
    recipients: readonly NewRecipient[],
    scope?: TenantScope,
  ): Promise<{ state: CampaignState | null; added: number; duplicates: number }>;
  /** draft → sending. */
  start(id: string, scope?: TenantScope): Promise<Transition>;
  /**
   * draft or sending → cancelled; every pending recipient becomes `cancelled` in the same
   * transaction. Returns the user ids it cancelled (their send jobs may be removed).
   */
  cancel(id: string, scope?: TenantScope): Promise<Transition & { cancelledUserIds?: string[] }>;
  /** Up to `limit` pending user ids after `afterUserId`, in user id order: the fan-out's pages. */
  pendingPage(id: string, afterUserId: string | null, limit: number): Promise<string[]>;
  /**
   * `erasedAddressDigests`: the keyed digests an erased opt-out of the recipient's address would
   * have kept (one per key); such an opt-out counts as the address's. Only the opt-outs of the
   * campaign's tenant count.
   */
  sendContext(id: string, userId: string, erasedAddressDigests?: (email: string) => string[]): Promise<SendContext | null>;
  /**
   * Records an outcome. `sent` and `failed` replace `pending` or `cancelled` (a mail in flight at the
   * cancel did go out); the skips replace `pending` only. False when nothing changed.
   */
  recordOutcome(
    id: string,
    userId: string,
    outcome: Exclude<RecipientStatus, 'pending'>,
    details?: { messageId?: string; error?: string },
  ): Promise<boolean>;
  /**
   * `pending` → `failed`, for a send job that died without deciding (a dead letter): false when the
   * recipient already had an outcome (a cancel, a mail that went out).
   */
  failIfPending(id: string, userId: string, error: string): Promise<boolean>;
  /**
   * Closes a started campaign with no pending recipient left (sending → done; cancelled stays) —
   * one caller across all processes wins that — and returns it with its figures while its summary
   * has not been announced ({@link markAnnounced}); null otherwise.
   */
  closeIfDone(id: string): Promise<(Campaign & { figures: CampaignFigures }) | null>;
  markAnnounced(id: string): Promise<void>;
  /** Newsletter mails sent and failed for good since `since`, per tenant of `tenants` (their campaigns'). */
  outcomesSinceByTenant(since: Date, tenants: readonly string[]): Promise<Record<string, { sent: number; failed: number }>>;
  /**
   * Records the opt-out of the address and user of recipient `userId` of campaign `id`, for the
   * campaign's tenant: `already` when this user had opted out this address before (another user
   * sharing it does not count).
   */
  unsubscribe(id: string, userId: string): Promise<'recorded' | 'already' | 'unknown'>;
  /**
   * Erases `userId`'s personal data from the newsletter tables: the address and first name of each
   * of their recipient rows are blanked (a recipient not yet mailed becomes `cancelled`, so the
   * campaign's figures still add up), and their opt-outs keep the user id but not the address:
   * `addressDigest(address)` (a keyed digest, so the address stays blocked) or, without it,
   * nothing of the address. Only `tenant`'s user (`default` when absent): the recipient rows of
   * that tenant's campaigns and that tenant's opt-outs. Returns the counts and the campaigns still
   * sending that the erasure may have left with nobody pending (to be closed).
   */
  eraseUser(
    userId: string,
    options?: { addressDigest?: (email: string) => string; tenant?: string },
  ): Promise<{ recipients: number; optOuts: number; sendingCampaigns: string[] }>;
}

type CampaignRow = {
  id: string;
  tenant_id: string;
  subject: string;
  text_body: string;
  html_body: string | null;
  state: CampaignState;
  created_at: Date;
  started_at: Date | null;
  cancelled_at: Date | null;
  finished_at: Date | null;
};

const toCampaign = (row: CampaignRow): Campaign => ({
  id: row.id,
  tenant: row.tenant_id,
  subject: row.subject,
  text: row.text_body,
  html: row.html_body,
  state: row.state,
  createdAt: row.created_at,
  startedAt: row.started_at,
  cancelledAt: row.cancelled_at,
  finishedAt: row.finished_at,
});

/** Rows are locked with FOR SHARE by an add, FOR UPDATE by a start: an add and a start never interleave. */
async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** The SQL condition of a {@link TenantScope} on `newsletter_campaigns` (its parameter: the tenant or null). */
const OF_TENANT = '($2::text IS NULL OR tenant_id = $2)';

async function stateOf(client: pg.Pool | pg.PoolClient, id: string, lock = '', tenant?: string): Promise<CampaignState | null> {
  const { rows } = await client.query<{ state: CampaignState }>(
    `SELECT state FROM newsletter_campaigns WHERE id = $1 AND ${OF_TENANT} ${lock}`,
    [id, tenant ?? null],
  );
  return rows[0]?.state ?? null;
}

/** The newsletter tables of migration 005, on the pool of a `createDb()`. */
export function createNewsletterStore(pool: pg.Pool): NewsletterStore {
  const figures = async (id: string): Promise<CampaignFigures> => {
    const { rows } = await pool.query<CampaignFigures>(
      `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE status = 'sent')::int AS sent,
              count(*) FILTER (WHERE status = 'failed')::int AS failed,
              count(*) FILTER (WHERE status = 'pending')::int AS pending,
              count(*) FILTER (WHERE status = 'unsubscribed')::int AS unsubscribed,
              count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled
         FROM newsletter_recipients WHERE campaign_id = $1`,
      [id],
    );
    return rows[0]!;
  };

  return {
    async createCampaign({ subject, text, html }, { tenant = DEFAULT_TENANT } = {}) {
      const { rows } = await pool.query<{ id: string }>(
        'INSERT INTO newsletter_campaigns (subject, text_body, html_body, tenant_id) VALUES ($1, $2, $3, $4) RETURNING id',
        [storableString(subject), storableString(text), html === null ? null : storableString(html), tenant],
      );
      return rows[0]!.id;
    },
    async getCampaign(id, { tenant } = {}) {
      const { rows } = await pool.query<CampaignRow>(`SELECT * FROM newsletter_campaigns WHERE id = $1 AND ${OF_TENANT}`, [
        id,
        tenant ?? null,
      ]);
      return rows[0] ? toCampaign(rows[0]) : null;
    },
    state: (id) => stateOf(pool, id),
    async content(id) {
      const { rows } = await pool.query<CampaignRow>('SELECT subject, text_body, html_body FROM newsletter_campaigns WHERE id = $1', [id]);
      return rows[0] ? { subject: rows[0].subject, text: rows[0].text_body, html: rows[0].html_body } : null;
    },
    figures,
    async addRecipients(id, recipients, { tenant } = {}) {
      return inTransaction(pool, async (client) => {
        const state = await stateOf(client, id, 'FOR SHARE', tenant);
        if (state !== 'draft') return { state, added: 0, duplicates: 0 };
        const result = await client.query(
          `INSERT INTO newsletter_recipients (campaign_id, user_id, email, first_name)
           SELECT $1, r.user_id, r.email, r.first_name FROM unnest($2::text[], $3::text[], $4::text[]) AS r(user_id, email, first_name)
           ON CONFLICT (campaign_id, user_id) DO NOTHING`,
          [
            id,
            recipients.map((r) => storableString(r.userId)),
            recipients.map((r) => storableString(r.email)),
            recipients.map((r) => storableString(r.firstName)),
          ],
        );
        const added = result.rowCount ?? 0;
        return { state, added, duplicates: recipients.length - added };
      });
    },
    async start(id, { tenant } = {}) {
      const { rows } = await pool.query<{ state: CampaignState }>(
        `UPDATE newsletter_campaigns SET state = 'sending', started_at = now() WHERE id = $1 AND ${OF_TENANT} AND state = 'draft' RETURNING state`,
        [id, tenant ?? null],
      );
      if (rows.length === 1) return { found: true, before: 'draft', changed: true };
      const state = await stateOf(pool, id, '', tenant);
      return state === null ? { found: false } : { found: true, before: state, changed: false };
    },
    async cancel(id, { tenant } = {}) {
      return inTransaction(pool, async (client) => {
        const before = await stateOf(client, id, 'FOR UPDATE', tenant);
        if (before === null) return { found: false } as const;
        if (before !== 'draft' && before !== 'sending') return { found: true, before, changed: false } as const;
        // A draft has nothing in flight: it is finished at once (and never announced: it never started).
        await client.query(
          `UPDATE newsletter_campaigns SET state = 'cancelled', cancelled_at = now(),
                  finished_at = CASE WHEN started_at IS NULL THEN now() END WHERE id = $1`,
          [id],
        );
        const { rows } = await client.query<{ user_id: string }>(
          `UPDATE newsletter_recipients SET status = 'cancelled', finished_at = now()
            WHERE campaign_id = $1 AND status = 'pending' RETURNING user_id`,
          [id],
        );
        return { found: true, before, changed: true, cancelledUserIds: rows.map((row) => row.user_id) } as const;
      });
    },
    async pendingPage(id, afterUserId, limit) {
      const { rows } = await pool.query<{ user_id: string }>(
        `SELECT user_id FROM newsletter_recipients
          WHERE campaign_id = $1 AND status = 'pending' AND ($2::text IS NULL OR user_id > $2)
          ORDER BY user_id LIMIT $3`,
        [id, afterUserId, limit],
      );
      return rows.map((row) => row.user_id);
    },
    async sendContext(id, userId, erasedAddressDigests) {
      const { rows } = await pool.query<{
        state: CampaignState;
        email: string;
        first_name: string;
        status: RecipientStatus;
        tenant_id: string;
        unsubscribed: boolean;
      }>(
        `SELECT c.state, r.email, r.first_name, r.status,
                c.tenant_id,
                EXISTS (SELECT 1 FROM newsletter_unsubscribes u
                         WHERE u.tenant_id = c.tenant_id AND (u.email = lower(r.email) OR u.user_id = r.user_id)) AS unsubscribed
           FROM newsletter_recipients r JOIN newsletter_campaigns c ON c.id = r.campaign_id
          WHERE r.campaign_id = $1 AND r.user_id = $2`,
        [id, userId],
      );
      const row = rows[0];
      if (!row) return null;
      let unsubscribed = row.unsubscribed;
      if (!unsubscribed && erasedAddressDigests && row.email !== '') {
        // An erased user's opt-out of this address, kept as its keyed digest.
        const erased = await pool.query(
          'SELECT 1 FROM newsletter_unsubscribes WHERE tenant_id = $2 AND email = ANY($1::text[]) AND erased_at IS NOT NULL LIMIT 1',
          [erasedAddressDigests(row.email), row.tenant_id],
        );
        unsubscribed = (erased.rowCount ?? 0) > 0;
      }
      return { state: row.state, email: row.email, firstName: row.first_name, status: row.status, unsubscribed };
    },
    async recordOutcome(id, userId, outcome, details = {}) {
      const from = outcome === 'sent' || outcome === 'failed' ? ['pending', 'cancelled'] : ['pending'];
      const result = await pool.query(
        `UPDATE newsletter_recipients SET status = $3, message_id = $4, error = $5, finished_at = now()
          WHERE campaign_id = $1 AND user_id = $2 AND status = ANY($6::text[])`,
        [
          id,
          userId,
          outcome,
          details.messageId === undefined ? null : storableString(details.messageId),
          details.error === undefined ? null : storableString(details.error.slice(0, 2000)),
          from,
        ],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async failIfPending(id, userId, error) {
      const result = await pool.query(
        `UPDATE newsletter_recipients SET status = 'failed', error = $3, finished_at = now()
          WHERE campaign_id = $1 AND user_id = $2 AND status = 'pending'`,
        [id, userId, storableString(error.slice(0, 2000))],
      );
      return (result.rowCount ?? 0) > 0;
    },
    async closeIfDone(id) {
      // Under READ COMMITTED a second closer blocks on the row, then finds finished_at set: one wins.
      // One round trip after every send: the close, or else a closed campaign not yet announced.
      const { rows } = await pool.query<CampaignRow>(
        `WITH closed AS (
           UPDATE newsletter_campaigns c SET state = CASE WHEN c.state = 'sending' THEN 'done' ELSE c.state END, finished_at = now()
            WHERE c.id = $1 AND c.finished_at IS NULL AND c.started_at IS NOT NULL AND c.state IN ('sending', 'cancelled')
              AND NOT EXISTS (SELECT 1 FROM newsletter_recipients r WHERE r.campaign_id = $1 AND r.status = 'pending')
            RETURNING *)
         SELECT * FROM closed
         UNION ALL
         SELECT * FROM newsletter_campaigns
          WHERE id = $1 AND finished_at IS NOT NULL AND started_at IS NOT NULL AND announced_at IS NULL AND NOT EXISTS (SELECT 1 FROM closed)`,
        [id],
      );
      if (!rows[0]) return null;
      return { ...toCampaign(rows[0]), figures: await figures(id) };
    },
    async outcomesSinceByTenant(since, tenants) {
      const { rows } = await pool.query<{ tenant_id: string; sent: number; failed: number }>(
        `SELECT c.tenant_id, count(*) FILTER (WHERE r.status = 'sent')::int AS sent, count(*) FILTER (WHERE r.status = 'failed')::int AS failed
           FROM newsletter_campaigns c JOIN newsletter_recipients r ON r.campaign_id = c.id
          WHERE c.tenant_id = ANY($2::text[]) AND (c.finished_at IS NULL OR c.finished_at >= $1)
            AND r.finished_at >= $1 AND r.status IN ('sent', 'failed')
          GROUP BY c.tenant_id`,
        [since, tenants],
      );
      return Object.fromEntries(rows.map((row) => [row.tenant_id, { sent: row.sent, failed: row.failed }]));
    },
    async markAnnounced(id) {
      await pool.query('UPDATE newsletter_campaigns SET announced_at = now() WHERE id = $1 AND announced_at IS NULL', [id]);
    },
    async unsubscribe(id, userId) {
      // One transaction, the recipient row share-locked: an erasure (which updates that row first)
      // runs wholly before or wholly after, so it never misses the opt-out's clear address.
      return inTransaction(pool, async (client) => {
        const { rows } = await client.query<{ email: string; tenant_id: string }>(
          `SELECT r.email, c.tenant_id FROM newsletter_recipients r JOIN newsletter_campaigns c ON c.id = r.campaign_id
            WHERE r.campaign_id = $1 AND r.user_id = $2 FOR SHARE OF r`,
          [id, userId],
        );
        if (!rows[0]) return 'unknown';
        const result = await client.query(
          // An erased recipient's address is blank: the opt-out is kept by user id alone.
          `INSERT INTO newsletter_unsubscribes (email, user_id, campaign_id, erased_at, tenant_id)
           VALUES (CASE WHEN $1 = '' THEN 'erased-user:' || $2 ELSE lower($1) END, $2, $3, CASE WHEN $1 = '' THEN now() END, $4)
           ON CONFLICT (tenant_id, email, user_id) DO NOTHING`,
          [rows[0].email, userId, id, rows[0].tenant_id],
        );
        return result.rowCount === 1 ? 'recorded' : 'already';
      });
    },
    async eraseUser(userId, { addressDigest, tenant = DEFAULT_TENANT } = {}) {
      return inTransaction(pool, async (client) => {
        const recipients = await client.query<{ campaign_id: string; state: string }>(
          `UPDATE newsletter_recipients r
              SET email = '', first_name = '', error = NULL,
                  status = CASE WHEN r.status = 'pending' THEN 'cancelled' ELSE r.status END,
                  finished_at = COALESCE(r.finished_at, now())
             FROM newsletter_campaigns c
            WHERE r.user_id = $1 AND c.id = r.campaign_id AND c.tenant_id = $2 AND (r.email <> '' OR r.first_name <> '')
        RETURNING r.campaign_id, c.state`,
          [userId, tenant],
        );
        // Each clear opt-out becomes its erased form (a keyed digest of the address, or the user id
        // alone): inserted, then the clear row deleted, so an erased form already there is kept once.
        const clear = await client.query<{ email: string }>(
          'SELECT email FROM newsletter_unsubscribes WHERE tenant_id = $2 AND user_id = $1 AND erased_at IS NULL FOR UPDATE',
          [userId, tenant],
        );
        for (const { email } of clear.rows) {
          await client.query(
            `INSERT INTO newsletter_unsubscribes (email, user_id, campaign_id, unsubscribed_at, erased_at, tenant_id)
             SELECT $3, user_id, campaign_id, unsubscribed_at, now(), tenant_id FROM newsletter_unsubscribes
              WHERE tenant_id = $4 AND email = $1 AND user_id = $2
             ON CONFLICT (tenant_id, email, user_id) DO NOTHING`,
            [email, userId, addressDigest ? addressDigest(email) : `erased-user:${userId}`, tenant],
          );
          await client.query('DELETE FROM newsletter_unsubscribes WHERE tenant_id = $3 AND email = $1 AND user_id = $2', [
            email,
            userId,
            tenant,
          ]);
        }
        const sendingCampaigns = [...new Set(recipients.rows.filter((row) => row.state === 'sending').map((row) => row.campaign_id))];
        return { recipients: recipients.rowCount ?? 0, optOuts: clear.rows.length, sendingCampaigns };
      });
    },
  };
}
