import type { TokenScope } from '@ceres/app-kit';
import type pg from 'pg';

export { DEFAULT_TENANT, TENANT_ID } from '@ceres/app-kit';
import { DEFAULT_TOKEN_SCOPES } from '@ceres/app-kit';

/** A tenant as stored: its secrets sealed with the jobs keyring (`*Sealed`), never in clear. */
export interface TenantRow {
  id: string;
  name: string;
  mailFrom: string | null;
  smtpUrlSealed: string | null;
  slackWebhookUrlSealed: string | null;
  emailRatePerSecond: number | null;
  newsletterRatePerSecond: number | null;
  disabledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

/** The settable part of a tenant; `null` clears a setting, an absent key leaves it as it is. */
export type TenantSettings = Partial<
  Pick<TenantRow, 'name' | 'mailFrom' | 'smtpUrlSealed' | 'slackWebhookUrlSealed' | 'emailRatePerSecond' | 'newsletterRatePerSecond'>
>;

/** An API token as stored: the keyed hash of the token, never the token. */
export interface ApiTokenRow {
  id: string;
  tenantId: string;
  name: string | null;
  keyVersion: string;
  tokenHash: string;
  /** What the token may call (`TOKEN_SCOPES` of @ceres/app-kit). */
  scopes: TokenScope[];
  createdAt: Date;
  revokedAt: Date | null;
}

export interface TenantStore {
  list(): Promise<TenantRow[]>;
  get(id: string): Promise<TenantRow | null>;
  /** False when a tenant with this id exists (nothing changed). */
  add(id: string, settings: TenantSettings & { name: string }): Promise<boolean>;
  /** False when no tenant has this id. */
  update(id: string, settings: TenantSettings): Promise<boolean>;
  /** Disables (`true`) or enables a tenant; false when no tenant has this id. */
  setDisabled(id: string, disabled: boolean): Promise<boolean>;
  /** The latest `updated_at` of any tenant: a cheap "did anything change" for caches. */
  lastChange(): Promise<Date | null>;
}

export interface ApiTokenStore {
  /** `scopes` defaults to `DEFAULT_TOKEN_SCOPES`. */
  insert(token: Omit<ApiTokenRow, 'createdAt' | 'revokedAt' | 'scopes'> & { scopes?: readonly TokenScope[] }): Promise<void>;
  /** Every token, revoked ones included, oldest first. */
  list(): Promise<ApiTokenRow[]>;
  /** The tokens that are not revoked and whose tenant exists, for the API's cache. */
  active(): Promise<ApiTokenRow[]>;
  /** False when no unrevoked token has this id. */
  revoke(id: string): Promise<boolean>;
}

const COLUMNS: Record<keyof TenantSettings, string> = {
  name: 'name',
  mailFrom: 'mail_from',
  smtpUrlSealed: 'smtp_url_sealed',
  slackWebhookUrlSealed: 'slack_webhook_url_sealed',
  emailRatePerSecond: 'email_rate_per_second',
  newsletterRatePerSecond: 'newsletter_rate_per_second',
};

type TenantRecord = {
  id: string;
  name: string;
  mail_from: string | null;
  smtp_url_sealed: string | null;
  slack_webhook_url_sealed: string | null;
  email_rate_per_second: number | null;
  newsletter_rate_per_second: number | null;
  disabled_at: Date | null;
  created_at: Date;
  updated_at: Date;
};

const toTenant = (row: TenantRecord): TenantRow => ({
  id: row.id,
  name: row.name,
  mailFrom: row.mail_from,
  smtpUrlSealed: row.smtp_url_sealed,
  slackWebhookUrlSealed: row.slack_webhook_url_sealed,
  emailRatePerSecond: row.email_rate_per_second,
  newsletterRatePerSecond: row.newsletter_rate_per_second,
  disabledAt: row.disabled_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

type TokenRecord = {
  id: string;
  tenant_id: string;
  name: string | null;
  key_version: string;
  token_hash: string;
  scopes: TokenScope[];
  created_at: Date;
  revoked_at: Date | null;
};

const toToken = (row: TokenRecord): ApiTokenRow => ({
  id: row.id,
  tenantId: row.tenant_id,
  name: row.name,
  keyVersion: row.key_version,
  tokenHash: row.token_hash,
  scopes: row.scopes,
  createdAt: row.created_at,
  revokedAt: row.revoked_at,
});

function settingColumns(settings: TenantSettings, first: number): { columns: string[]; values: unknown[] } {
  const columns: string[] = [];
  const values: unknown[] = [];
  for (const [key, column] of Object.entries(COLUMNS) as Array<[keyof TenantSettings, string]>) {
    if (settings[key] === undefined) continue;
    values.push(settings[key]);
    columns.push(`${column} = $${first + values.length - 1}`);
  }
  return { columns, values };
}

export function createTenantStore(pool: pg.Pool): TenantStore {
  return {
    async list() {
      const { rows } = await pool.query<TenantRecord>('SELECT * FROM tenants ORDER BY id');
      return rows.map(toTenant);
    },
    async get(id) {
      const { rows } = await pool.query<TenantRecord>('SELECT * FROM tenants WHERE id = $1', [id]);
      return rows[0] ? toTenant(rows[0]) : null;
    },
    async add(id, settings) {
      const keys = (Object.keys(COLUMNS) as Array<keyof TenantSettings>).filter((key) => settings[key] !== undefined);
      const columns = ['id', ...keys.map((key) => COLUMNS[key])];
      const values = [id, ...keys.map((key) => settings[key])];
      const { rowCount } = await pool.query(
        `INSERT INTO tenants (${columns.join(', ')}) VALUES (${values.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT (id) DO NOTHING`,
        values,
      );
      return rowCount === 1;
    },
    async update(id, settings) {
      const { columns, values } = settingColumns(settings, 2);
      const { rowCount } = await pool.query(`UPDATE tenants SET ${[...columns, 'updated_at = now()'].join(', ')} WHERE id = $1`, [
        id,
        ...values,
      ]);
      return rowCount === 1;
    },
    async setDisabled(id, disabled) {
      const { rowCount } = await pool.query(
        `UPDATE tenants SET disabled_at = ${disabled ? 'COALESCE(disabled_at, now())' : 'NULL'}, updated_at = now() WHERE id = $1`,
        [id],
      );
      return rowCount === 1;
    },
    async lastChange() {
      const { rows } = await pool.query<{ last: Date | null }>('SELECT max(updated_at) AS last FROM tenants');
      return rows[0]?.last ?? null;
    },
  };
}

export function createApiTokenStore(pool: pg.Pool): ApiTokenStore {
  return {
    async insert({ id, tenantId, name, keyVersion, tokenHash, scopes = DEFAULT_TOKEN_SCOPES }) {
      await pool.query('INSERT INTO api_tokens (id, tenant_id, name, key_version, token_hash, scopes) VALUES ($1, $2, $3, $4, $5, $6)', [
        id,
        tenantId,
        name,
        keyVersion,
        tokenHash,
        [...scopes],
      ]);
    },
    async list() {
      const { rows } = await pool.query<TokenRecord>('SELECT * FROM api_tokens ORDER BY created_at, id');
      return rows.map(toToken);
    },
    async active() {
      const { rows } = await pool.query<TokenRecord>('SELECT * FROM api_tokens WHERE revoked_at IS NULL');
      return rows.map(toToken);
    },
    async revoke(id) {
      const { rowCount } = await pool.query('UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id]);
      return rowCount === 1;
    },
  };
}
