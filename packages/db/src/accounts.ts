import type { Role } from '@ceres/app-kit';
import type pg from 'pg';

/** An operator account as stored: its password only as a scrypt hash (`hashPassword` of @ceres/app-kit). */
export interface AccountRow {
  name: string;
  role: Role;
  /** The one tenant the account sees and acts on; null for every tenant. */
  tenant: string | null;
  passwordHash: string;
  disabledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface AccountStore {
  /** Every account, disabled ones included, by name. */
  list(): Promise<AccountRow[]>;
  get(name: string): Promise<AccountRow | null>;
  /** False when an account with this name exists (nothing changed). */
  add(account: Pick<AccountRow, 'name' | 'role' | 'tenant' | 'passwordHash'>): Promise<boolean>;
  /** Sets the role (and the tenant, when given: null for every tenant); false when no such account. */
  setRole(name: string, role: Role, tenant?: string | null): Promise<boolean>;
  /** Disables (`true`) or enables an account; false when no such account. */
  setDisabled(name: string, disabled: boolean): Promise<boolean>;
  /** False when no such account. */
  setPasswordHash(name: string, passwordHash: string): Promise<boolean>;
  /** The latest `updated_at` of any account: a cheap "did anything change" for caches. */
  lastChange(): Promise<Date | null>;
}

type AccountRecord = {
  name: string;
  role: Role;
  tenant_id: string | null;
  password_hash: string;
  disabled_at: Date | null;
  created_at: Date;
  updated_at: Date;
};

const toAccount = (row: AccountRecord): AccountRow => ({
  name: row.name,
  role: row.role,
  tenant: row.tenant_id,
  passwordHash: row.password_hash,
  disabledAt: row.disabled_at,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

export function createAccountStore(pool: pg.Pool): AccountStore {
  const changed = async (sql: string, values: unknown[]) => (await pool.query(sql, values)).rowCount === 1;
  return {
    async list() {
      const { rows } = await pool.query<AccountRecord>('SELECT * FROM operator_accounts ORDER BY name');
      return rows.map(toAccount);
    },
    async get(name) {
      const { rows } = await pool.query<AccountRecord>('SELECT * FROM operator_accounts WHERE name = $1', [name]);
      return rows[0] ? toAccount(rows[0]) : null;
    },
    add({ name, role, tenant, passwordHash }) {
      return changed(
        'INSERT INTO operator_accounts (name, role, tenant_id, password_hash) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING',
        [name, role, tenant, passwordHash],
      );
    },
    setRole(name, role, tenant) {
      return tenant === undefined
        ? changed('UPDATE operator_accounts SET role = $2, updated_at = now() WHERE name = $1', [name, role])
        : changed('UPDATE operator_accounts SET role = $2, tenant_id = $3, updated_at = now() WHERE name = $1', [name, role, tenant]);
    },
    setDisabled(name, disabled) {
      return changed(
        `UPDATE operator_accounts SET disabled_at = ${disabled ? 'COALESCE(disabled_at, now())' : 'NULL'}, updated_at = now() WHERE name = $1`,
        [name],
      );
    },
    setPasswordHash(name, passwordHash) {
      return changed('UPDATE operator_accounts SET password_hash = $2, updated_at = now() WHERE name = $1', [name, passwordHash]);
    },
    async lastChange() {
      const { rows } = await pool.query<{ last: Date | null }>('SELECT max(updated_at) AS last FROM operator_accounts');
      return rows[0]?.last ?? null;
    },
  };
}
