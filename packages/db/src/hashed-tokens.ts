import { createHash } from 'node:crypto';
import { DEFAULT_TENANT } from '@ceres/app-kit';
import type pg from 'pg';

/**
 * A token table whose tokens are never stored in the clear: the rows hold the SHA-256 of the token
 * (hex), its user and its expiry. Its migration creates, under the table's name `<table>`:
 *
 * ```sql
 * CREATE TABLE <table> (
 *   token_hash text PRIMARY KEY,
 *   user_id    text NOT NULL,
 *   expires_at timestamptz NOT NULL,
 *   created_at timestamptz NOT NULL DEFAULT now(),
 *   tenant_id  text NOT NULL DEFAULT 'default' REFERENCES tenants (id)
 * );
 * CREATE INDEX <table>_expires_at_idx ON <table> (expires_at);
 * CREATE INDEX <table>_user_id_idx ON <table> (tenant_id, user_id);
 * ```
 *
 * A job type names its table in its definition (`tokenStore`): the hourly cleanup deletes the
 * expired rows of every such table and erasure the rows of the user.
 */
export interface HashedTokenStore {
  readonly table: string;
  /** Records a token the platform issued (only its hash), for user `userId` of `tenant` (`default` when absent). */
  insert(token: { token: string; userId: string; expiresAt: Date; tenant?: string }): Promise<void>;
  /** The row of `token` whatever its expiry, or null. */
  find(token: string): Promise<HashedToken | null>;
  /** The row of `token` when it expires after `now`, else null. */
  findValid(token: string, now: Date): Promise<HashedToken | null>;
  /** Deletes the token and returns its row when it was valid at `now` (single use); else null. */
  consume(token: string, now: Date): Promise<HashedToken | null>;
  /**
   * Deletes every token of user `userId` of `tenant` (`default` when absent) (a new token replacing
   * the old ones, erasure); returns how many.
   */
  deleteForUser(userId: string, tenant?: string): Promise<number>;
  /** Deletes the tokens that expired at or before `now`; returns how many. */
  deleteExpired(now: Date): Promise<number>;
}

export interface HashedToken {
  userId: string;
  /** The tenant whose user it is. */
  tenant: string;
  expiresAt: Date;
  createdAt: Date;
}

/** What a hashed token store keeps of `token`: its SHA-256, hex. */
export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

type Row = { user_id: string; tenant_id: string; expires_at: Date; created_at: Date };
const toToken = (row: Row): HashedToken => ({
  userId: row.user_id,
  tenant: row.tenant_id,
  expiresAt: row.expires_at,
  createdAt: row.created_at,
});

/** The store of table `table` (a plain lower-case SQL name, as a definition's `tokenStore` gives it). */
export function createHashedTokenStore(pool: pg.Pool, table: string): HashedTokenStore {
  if (!TABLE_NAME.test(table)) throw new Error(`token store "${table}" is not a plain lower-case table name`);
  const name = `"${table}"`;
  return {
    table,
    async insert({ token, userId, expiresAt, tenant = DEFAULT_TENANT }) {
      await pool.query(`INSERT INTO ${name} (token_hash, user_id, expires_at, tenant_id) VALUES ($1, $2, $3, $4)`, [
        hashToken(token),
        userId,
        expiresAt,
        tenant,
      ]);
    },
    async find(token) {
      const { rows } = await pool.query<Row>(`SELECT user_id, tenant_id, expires_at, created_at FROM ${name} WHERE token_hash = $1`, [
        hashToken(token),
      ]);
      return rows[0] ? toToken(rows[0]) : null;
    },
    async findValid(token, now) {
      const { rows } = await pool.query<Row>(
        `SELECT user_id, tenant_id, expires_at, created_at FROM ${name} WHERE token_hash = $1 AND expires_at > $2`,
        [hashToken(token), now],
      );
      return rows[0] ? toToken(rows[0]) : null;
    },
    async consume(token, now) {
      const { rows } = await pool.query<Row>(
        `DELETE FROM ${name} WHERE token_hash = $1 AND expires_at > $2 RETURNING user_id, tenant_id, expires_at, created_at`,
        [hashToken(token), now],
      );
      return rows[0] ? toToken(rows[0]) : null;
    },
    async deleteForUser(userId, tenant = DEFAULT_TENANT) {
      const result = await pool.query(`DELETE FROM ${name} WHERE tenant_id = $2 AND user_id = $1`, [userId, tenant]);
      return result.rowCount ?? 0;
    },
    async deleteExpired(now) {
      const result = await pool.query(`DELETE FROM ${name} WHERE expires_at <= $1`, [now]);
      return result.rowCount ?? 0;
    },
  };
}
