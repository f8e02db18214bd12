import { createDb, createFailedJobArchive, databaseUrlFromEnv, DatabaseUrlError, type Db, type FailedJobArchive } from '@ceres/db';
import {
  ConfigError,
  ENCRYPTION_KEYS_VARIABLE,
  keyringFromEnv,
  loadQueuesConfig,
  QueueAdmin,
  QueueClient,
  UnknownQueueError,
  type Keyring,
  type QueuesConfig,
} from '@ceres/queues';
import { CliError, UnreachableError, UsageError } from './errors';
import { loadCliConfig, type CliConfig, type Env } from './env';

/** `host:port/db` of a URL, never its user or password. */
export function whereIs(url: string, defaultPort: number, defaultDb: string): string {
  try {
    const parsed = new URL(url);
    const db = parsed.pathname.replace(/^\//, '') || defaultDb;
    return `${parsed.hostname}:${parsed.port || defaultPort}/${db}`;
  } catch {
    return 'the configured address';
  }
}

/** PostgreSQL error codes (and Node's) that mean the server is not there or not taking us. */
const PG_UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'EAI_AGAIN',
  '57P01',
  '57P03',
  '3D000',
  '28P01',
  '28000',
]);

function isPgUnreachable(error: unknown): boolean {
  const err = error as { code?: string; message?: string };
  if (err?.code && PG_UNREACHABLE.has(err.code)) return true;
  return /timeout expired|Connection terminated|connect ECONNREFUSED/i.test(err?.message ?? '');
}

/** Settings read by `load`: a bad variable (a `ConfigError`) is a usage error, exit 2. */
export function settings<T>(load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`invalid configuration: ${error.message}`);
    throw error;
  }
}

/**
 * What a command connects to, opened on first use: Redis through the same `QueueClient` and
 * `QueueAdmin` as the apps, PostgreSQL through `@ceres/db`. Unreachable servers become
 * {@link UnreachableError} (exit 3), bad variables {@link UsageError} (exit 2).
 */
export class CliContext {
  private client: QueueClient | undefined;
  private adminInstance: QueueAdmin | undefined;
  private db: Db | undefined;

  constructor(readonly env: Env) {}

  /** The CLI's own settings (`CliEnv`); a bad variable is a {@link UsageError}. */
  config(): CliConfig {
    return settings(() => loadCliConfig(this.env));
  }

  queuesConfig(): QueuesConfig {
    return settings(() => loadQueuesConfig(this.env));
  }

  redisLocation(): string {
    const config = this.queuesConfig();
    return whereIs(config.redisUrl, 6379, String(config.redisDb));
  }

  /** The queue client, connected (or {@link UnreachableError}). */
  async queues(): Promise<QueueClient> {
    if (!this.client) {
      // Replays from the archive re-enqueue the worker's own jobs (dead-letter alerts) under their ids.
      this.client = new QueueClient({
        config: this.queuesConfig(),
        connectionName: 'ceres-cli',
        allowReservedKeys: true,
        onWarning: () => {},
      });
    }
    try {
      await this.client.ready();
    } catch {
      throw this.redisUnreachable();
    }
    return this.client;
  }

  async admin(): Promise<QueueAdmin> {
    const client = await this.queues();
    this.adminInstance ??= new QueueAdmin(client, {
      errors: {
        unknownQueue: (name, known) => new UsageError(`queue: unknown queue "${name}"; known queues: ${known.join(', ')}`),
        unknownScheduler: (id, known) =>
          new UsageError(`id: unknown job scheduler "${id}"${known.length ? `; known: ${known.join(', ')}` : ''}`),
        ambiguousScheduler: (id, queues) =>
          new UsageError(`id: job scheduler "${id}" exists in several queues (${queues.join(', ')}); add --queue <name>`),
      },
    });
    return this.adminInstance;
  }

  /** `JOBS_ENCRYPTION_KEYS`, parsed; undefined when unset. A bad one is a {@link UsageError} naming it. */
  keyring(): Keyring | undefined {
    return settings(() => keyringFromEnv(this.env));
  }

  /** The keyring, which `what` needs: unset is a {@link UsageError} (exit 2) naming the variable. */
  requireKeyring(what: string): Keyring {
    const keyring = this.keyring();
    if (!keyring)
      throw new UsageError(
        `${ENCRYPTION_KEYS_VARIABLE} is not set: ${what}; set it to the worker's and the API's value (nothing was written)`,
      );
    return keyring;
  }

  databaseUrl(): string {
    try {
      return databaseUrlFromEnv(this.env);
    } catch (error) {
      if (error instanceof DatabaseUrlError) throw new UsageError(`invalid configuration: ${error.message}`);
      throw error;
    }
  }

  /** The database, reachable (or {@link UnreachableError}). */
  async database(): Promise<Db> {
    if (!this.db) {
      this.db = createDb(this.databaseUrl(), { maxConnections: 2, applicationName: 'ceres-cli' });
      try {
        await this.db.ping();
      } catch (error) {
        const db = this.db;
        this.db = undefined;
        await db.close().catch(() => {});
        throw this.pgUnreachable(error);
      }
    }
    return this.db;
  }

  async archive(): Promise<FailedJobArchive> {
    return createFailedJobArchive((await this.database()).pool);
  }

  redisUnreachable(): UnreachableError {
    return new UnreachableError(`Redis is unreachable at ${this.redisLocation()}`);
  }

  pgUnreachable(error?: unknown): UnreachableError {
    const code = (error as { code?: string } | undefined)?.code;
    return new UnreachableError(`PostgreSQL is unreachable at ${whereIs(this.databaseUrl(), 5432, '')}${code ? ` (${code})` : ''}`);
  }

  /** An error from a command in progress, as the CLI reports it: outages become exit 3. */
  translate(error: unknown): unknown {
    if (error instanceof CliError) return error;
    // E.g. JOBS_ENCRYPTION_KEYS unset when a replay enqueues a mail: a bad variable, exit 2.
    if (error instanceof ConfigError) return new UsageError(`invalid configuration: ${error.message}`);
    if (error instanceof UnknownQueueError) return new UsageError(`queue: ${error.message}`);
    if (this.client && !(error instanceof UsageError) && this.client.isOutage(error)) return this.redisUnreachable();
    if (this.db && isPgUnreachable(error)) return this.pgUnreachable(error);
    return error;
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.client?.close(), this.db?.close()]);
  }
}
