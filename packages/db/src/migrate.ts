import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/**
 * The shipped migrations. `src/` and `dist/` both sit one level below the package root, so the
 * same relative path works from the sources (tests, tsx) and from the build (the CLI).
 */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations/', import.meta.url));

/** Any constant works; it only has to be the same for every migrator of this schema. */
const MIGRATION_LOCK_ID = 4_242_001;

export interface Migration {
  /** The file's number, e.g. 1 for `001_initial.sql`. */
  version: number;
  name: string;
  /** The file name, e.g. `001_initial.sql`. */
  file: string;
  sql: string;
}

export interface MigrateOptions {
  /** @defaultValue {@link MIGRATIONS_DIR} */
  dir?: string;
  /** Called once per migration applied. @defaultValue no output */
  onApplied?: (migration: Pick<Migration, 'version' | 'name' | 'file'>) => void;
}

/** Reads `NNN_name.sql` files in version order; rejects duplicates and other names. */
export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((file) => file.endsWith('.sql')).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const match = /^(\d{3,})_([a-z0-9_-]+)\.sql$/.exec(file);
    if (!match) throw new Error(`migration file "${file}" must be named NNN_name.sql`);
    const version = Number(match[1]);
    if (migrations.some((m) => m.version === version)) throw new Error(`two migrations have version ${version}`);
    migrations.push({ version, name: match[2]!, file, sql: await readFile(`${dir}/${file}`, 'utf8') });
  }
  return migrations;
}

/**
 * Applies the migrations not yet recorded in `schema_migrations`, each in its own transaction.
 * A session advisory lock serialises concurrent runs (two deploys, several instances): the
 * second waits, then finds nothing left to do. Returns the versions it applied.
 */
export async function migrate(databaseUrl: string, options: MigrateOptions = {}): Promise<number[]> {
  const migrations = await readMigrations(options.dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await client.query('BEGIN');
      try {
        await client.query(migration.sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${migration.file} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(migration.version);
      options.onApplied?.(migration);
    }
    return applied;
  } finally {
    // Closing the session releases the advisory lock as well.
    await client.end();
  }
}
