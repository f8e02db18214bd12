import { createHash } from 'node:crypto';
import type pg from 'pg';

/** Any constant works; it only has to be the same for every writer of the audit log. */
const AUDIT_LOCK_ID = 4_242_027;
/** The previous hash of the very first row. */
export const AUDIT_GENESIS = '0'.repeat(64);

/** One mutating action as the audit trail records it; nothing personal by construction. */
export interface AuditEntry {
  /** `account:<name>`, `token:<id>`, `os:<user>` or `bootstrap:<user>` (`Principal.actor`). */
  actor: string;
  role: string;
  /** The tenant acted on (or the actor's, when it is tenant-scoped); null for the whole platform. */
  tenant: string | null;
  /** An `Action` of @ceres/app-kit, e.g. `job.retry`. */
  action: string;
  /** What was acted on: `{ queue, jobId }`, `{ archiveId }`, `{ account }`… (ids, never personal data). */
  target?: Record<string, string | number | null>;
  /** The action's parameters, masked with {@link maskAuditParams}. */
  params?: Record<string, unknown>;
  /** `ok`, or `error: <code>` when the action failed. */
  outcome: string;
  clientAddress?: string | null;
}

export interface AuditRow extends Required<Omit<AuditEntry, 'clientAddress'>> {
  id: number;
  at: Date;
  clientAddress: string | null;
  prevHash: string;
  hash: string;
}

export interface AuditFilter {
  since?: Date;
  actor?: string;
  tenant?: string;
  action?: string;
  /** Rows older than this id (the next page of a newest-first listing). */
  beforeId?: number;
  /** @defaultValue 100 */
  limit?: number;
}

export interface AuditVerification {
  /** Rows checked. */
  rows: number;
  /** The first row whose hash or link does not hold, or null when the chain is whole. */
  firstBroken: { id: number; reason: string } | null;
}

export interface AuditLog {
  /** Appends one row, chained to the last one (writers queue on an advisory lock). */
  append(entry: AuditEntry): Promise<AuditRow>;
  /** Newest first. */
  page(filter?: AuditFilter): Promise<AuditRow[]>;
  /** Recomputes every row's hash and link, oldest first. */
  verify(): Promise<AuditVerification>;
  /**
   * Deletes the rows older than `days` days and appends an `audit.prune` row naming the last one
   * deleted and its hash: the chain then starts from a link that row vouches for.
   */
  prune(days: number, actor: Pick<AuditEntry, 'actor' | 'role'>): Promise<number>;
  /** A cheap round trip: whether an action could be recorded now. */
  ping(): Promise<void>;
}

/** JSON with sorted keys, so a row read back from jsonb hashes as it did when written. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonical((value as Record<string, unknown>)[key])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/** A row's hash: SHA-256 over the previous hash and every field. */
export function auditHash(row: Omit<AuditRow, 'hash'>): string {
  const fields = [
    row.prevHash,
    row.id,
    row.at.toISOString(),
    row.actor,
    row.role,
    row.tenant,
    row.action,
    row.target,
    row.params,
    row.outcome,
    row.clientAddress,
  ];
  return createHash('sha256').update(canonical(fields)).digest('hex');
}

/** Keys whose values are personal data or secrets: written as `***`. */
const PERSONAL_KEYS =
  /^(e-?mail|to|from|user(id)?|first-?name|last-?name|full-?name|phone|address|token|password|secret|smtp-?url|webhook-?url|text|data|payload)$/i;
const EMAIL = /[^\s@<>"']+@[^\s@<>"']+\.[^\s@<>"']+/g;

/** Parameters fit for the audit trail: personal and secret keys as `***`, any address in a string as `***`. */
export function maskAuditParams(params: Record<string, unknown>): Record<string, unknown> {
  const mask = (key: string, value: unknown): unknown => {
    if (value === undefined) return undefined;
    if (PERSONAL_KEYS.test(key.replace(/_/g, ''))) return '***';
    if (typeof value === 'string') return value.replace(EMAIL, '***');
    if (Array.isArray(value)) return value.map((item) => mask('', item));
    if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(k, v)]));
    return value;
  };
  return Object.fromEntries(Object.entries(params).map(([key, value]) => [key, mask(key, value)]));
}

type AuditRecord = {
  id: string;
  at: Date;
  actor: string;
  role: string;
  tenant_id: string | null;
  action: string;
  target: Record<string, string | number | null>;
  params: Record<string, unknown>;
  outcome: string;
  client_address: string | null;
  prev_hash: string;
  hash: string;
};

const toRow = (row: AuditRecord): AuditRow => ({
  id: Number(row.id),
  at: row.at,
  actor: row.actor,
  role: row.role,
  tenant: row.tenant_id,
  action: row.action,
  target: row.target,
  params: row.params,
  outcome: row.outcome,
  clientAddress: row.client_address,
  prevHash: row.prev_hash,
  hash: row.hash,
});

export function createAuditLog(pool: pg.Pool): AuditLog {
  async function append(entry: AuditEntry): Promise<AuditRow> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK_ID]);
      const { rows } = await client.query<{ id: string; hash: string }>('SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1');
      const unhashed: Omit<AuditRow, 'hash'> = {
        id: rows[0] ? Number(rows[0].id) + 1 : 1,
        // Milliseconds: what a timestamptz gives back exactly.
        at: new Date(),
        actor: entry.actor,
        role: entry.role,
        tenant: entry.tenant,
        action: entry.action,
        target: entry.target ?? {},
        params: maskAuditParams(entry.params ?? {}),
        outcome: entry.outcome,
        clientAddress: entry.clientAddress ?? null,
        prevHash: rows[0]?.hash ?? AUDIT_GENESIS,
      };
      const row = { ...unhashed, hash: auditHash(unhashed) };
      await client.query(
        `INSERT INTO audit_log (id, at, actor, role, tenant_id, action, target, params, outcome, client_address, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [
          row.id,
          row.at,
          row.actor,
          row.role,
          row.tenant,
          row.action,
          row.target,
          row.params,
          row.outcome,
          row.clientAddress,
          row.prevHash,
          row.hash,
        ],
      );
      await client.query('COMMIT');
      return row;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  return {
    append,
    async page({ since, actor, tenant, action, beforeId, limit = 100 } = {}) {
      const { rows } = await pool.query<AuditRecord>(
        `SELECT * FROM audit_log
          WHERE ($1::timestamptz IS NULL OR at >= $1) AND ($2::text IS NULL OR actor = $2)
            AND ($3::text IS NULL OR tenant_id = $3) AND ($4::text IS NULL OR action = $4)
            AND ($5::bigint IS NULL OR id < $5)
          ORDER BY id DESC LIMIT $6`,
        [since ?? null, actor ?? null, tenant ?? null, action ?? null, beforeId ?? null, limit],
      );
      return rows.map(toRow);
    },
    async verify() {
      // Pruned rows are vouched for by the `audit.prune` rows that name their last hash.
      const { rows: prunes } = await pool.query<{ params: { lastHash?: string } }>(
        `SELECT params FROM audit_log WHERE action = 'audit.prune'`,
      );
      const anchors = new Set([AUDIT_GENESIS, ...prunes.map((row) => row.params.lastHash).filter((hash) => typeof hash === 'string')]);
      let previous: AuditRow | undefined;
      let count = 0;
      let after = 0;
      for (;;) {
        const { rows } = await pool.query<AuditRecord>('SELECT * FROM audit_log WHERE id > $1 ORDER BY id LIMIT 1000', [after]);
        if (rows.length === 0) break;
        for (const record of rows) {
          const row = toRow(record);
          count += 1;
          const { hash, ...unhashed } = row;
          if (previous === undefined ? !anchors.has(row.prevHash) : row.prevHash !== previous.hash || row.id !== previous.id + 1)
            return {
              rows: count,
              firstBroken: { id: row.id, reason: 'its link to the previous row does not hold (a row was removed or inserted before it)' },
            };
          if (auditHash(unhashed) !== hash)
            return { rows: count, firstBroken: { id: row.id, reason: 'its hash does not match its fields (the row was altered)' } };
          previous = row;
        }
        after = previous!.id;
      }
      return { rows: count, firstBroken: null };
    },
    async prune(days, { actor, role }) {
      const { rows } = await pool.query<{ id: string; hash: string }>(
        `SELECT id, hash FROM audit_log WHERE at < now() - make_interval(days => $1) ORDER BY id DESC LIMIT 1`,
        [days],
      );
      if (!rows[0]) return 0;
      const last = rows[0];
      // Vouch first: should the delete fail, the chain still verifies.
      await append({
        actor,
        role,
        tenant: null,
        action: 'audit.prune',
        params: { olderThanDays: days, lastId: Number(last.id), lastHash: last.hash },
        outcome: 'ok',
      });
      const { rowCount } = await pool.query('DELETE FROM audit_log WHERE id <= $1', [last.id]);
      return rowCount ?? 0;
    },
    async ping() {
      await pool.query('SELECT 1');
    },
  };
}

/** An action could not be recorded (PostgreSQL unreachable): it was not done. */
export class AuditUnavailableError extends Error {
  override name = 'AuditUnavailableError';
  constructor(options?: { cause?: unknown }) {
    super('the audit trail cannot be written (PostgreSQL is unreachable): the action was not done; try again shortly', options);
  }
}

/**
 * Does `act` only if the audit trail can be written, then records it with its outcome: no audit,
 * no action. A failure of `act` is recorded (`error: <name>`) and rethrown.
 */
export async function audited<T>(
  audit: AuditLog,
  entry: Omit<AuditEntry, 'outcome'>,
  act: () => Promise<T>,
  outcomeOf: (result: T) => string = () => 'ok',
): Promise<T> {
  await audit.ping().catch((cause: unknown) => {
    throw new AuditUnavailableError({ cause });
  });
  let result: T;
  try {
    result = await act();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    await audit.append({ ...entry, outcome: `error: ${typeof code === 'string' ? code : (error as Error).name}` });
    throw error;
  }
  await audit.append({ ...entry, outcome: outcomeOf(result) });
  return result;
}
