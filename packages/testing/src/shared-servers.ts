import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

/**
 * What the integration project's global set-up (tests/setup/global-servers.ts) starts once per run
 * and hands to every test file: one `redis-server` and one PostgreSQL with a migrated template
 * database. Files take their share with {@link sharedRedis} and {@link sharedPostgres}.
 */
export interface SharedServers {
  redis: { port: number };
  postgres: { port: number; template: string };
}

declare module 'vitest' {
  export interface ProvidedContext {
    ceresServers: SharedServers;
  }
}

function servers(): SharedServers {
  const provided = inject('ceresServers');
  if (!provided) {
    throw new Error('no shared servers: run this file in the "integration" vitest project (its global set-up starts them)');
  }
  return provided;
}

const token = () => randomBytes(4).toString('hex');

/** A file's share of the run's Redis: the server is shared, the key prefix is its own. */
export interface RedisPeer {
  port: number;
  /** `redis://127.0.0.1:<port>` — no database path, so apps fall back to DB 5. */
  url: string;
  /** `REDIS_PREFIX` unique to this call (`f<hex>:`). */
  prefix: string;
  /** Environment for the apps: `REDIS_URL` and this peer's `REDIS_PREFIX`. */
  env: Record<string, string>;
}

/**
 * The run's shared Redis with a key prefix of its own. Isolation is by prefix: a file using this
 * must not FLUSH, change CONFIG, stop the server, or read server-wide figures (INFO, DBSIZE, KEYS *);
 * such files start their own with `startRedisServer`.
 */
export function sharedRedis(): RedisPeer {
  const { port } = servers().redis;
  const url = `redis://127.0.0.1:${port}`;
  const prefix = `f${token()}:`;
  return { port, url, prefix, env: { REDIS_URL: url, REDIS_PREFIX: prefix } };
}

/** A database of its own on the run's shared PostgreSQL. */
export interface PostgresPeer {
  port: number;
  /** `postgres://postgres@127.0.0.1:<port>/<database>`. */
  url: string;
  env: { DATABASE_URL: string };
  /** Creates another empty database on the shared server (named after `name`, unique) and returns its URL. */
  createDatabase(name: string): Promise<string>;
  /** Drops this peer's databases. */
  close(): Promise<void>;
}

/**
 * A fresh database on the run's shared PostgreSQL: a copy of the migrated template (no migration
 * runs per file), or an empty one with `{ migrated: false }`.
 */
export async function sharedPostgres(options: { migrated?: boolean } = {}): Promise<PostgresPeer> {
  const { port, template } = servers().postgres;
  const admin = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const base = `f_${token()}`;
  const created: string[] = [];
  const create = async (name: string, from: string) => {
    const client = new pg.Client({ connectionString: admin });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name} TEMPLATE ${from}`);
    } finally {
      await client.end();
    }
    created.push(name);
    return `postgres://postgres@127.0.0.1:${port}/${name}`;
  };
  const url = await create(base, options.migrated === false ? 'template0' : template);
  return {
    port,
    url,
    env: { DATABASE_URL: url },
    createDatabase: async (name) => {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`invalid database name "${name}"`);
      return create(`${base}_${name}`.slice(0, 63), 'template0');
    },
    close: async () => {
      const client = new pg.Client({ connectionString: admin });
      await client.connect();
      try {
        for (const name of created.splice(0)) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
