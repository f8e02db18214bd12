import { userInfo } from 'node:os';
import { READ_ACTIONS, roleAllows, roleRefusal, verifyPassword, type Action, type Principal } from '@ceres/app-kit';
import {
  audited,
  AuditUnavailableError,
  createDb,
  createFailedJobArchive,
  databaseUrlFromEnv,
  DatabaseUrlError,
  type AuditEntry,
  type Db,
  type FailedJobArchive,
} from '@ceres/db';
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

/** The account the CLI runs as, when set with {@link PASSWORD_VARIABLE}; unset, it runs as the OS user with the admin role. */
export const USER_VARIABLE = 'CERES_JOBS_USER';
export const PASSWORD_VARIABLE = 'CERES_JOBS_PASSWORD';

/**
 * What a command needs: an `Action` of @ceres/app-kit (role checked; a mutating one is then
 * recorded in the audit trail, one of `READ_ACTIONS` is not), or `read` (any role).
 */
export type Need = Action | 'read';

/** The OS user the CLI runs as: the actor `os:<user>` of its audit rows. */
export function osUser(env: Record<string, string | undefined> = process.env): string {
  try {
    return userInfo().username;
  } catch {
    return env.USER ?? env.LOGNAME ?? 'unknown';
  }
}

/** A well-formed hash checked when there is no such account, so that a wrong name takes as long as a wrong password. */
const NO_ACCOUNT_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

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
  private principalPromise: Promise<Principal> | undefined;

  constructor(readonly env: Env) {}

  /**
   * {@link USER_VARIABLE} and {@link PASSWORD_VARIABLE}: both set (run as that account) or neither
   * (run as the OS user, admin). One without the other, or a malformed name, is a
   * {@link UsageError} naming the variable.
   */
  accountCredentials(): { name: string; password: string } | undefined {
    const { user: name, password } = this.config();
    if (!name && !password) return undefined;
    if (!name)
      throw new UsageError(
        `invalid configuration: ${PASSWORD_VARIABLE} is set but ${USER_VARIABLE} is not: set both to run as an operator account, neither to run as the OS user`,
      );
    if (!password)
      throw new UsageError(
        `invalid configuration: ${USER_VARIABLE} is set but ${PASSWORD_VARIABLE} is not: set both to run as an operator account, neither to run as the OS user`,
      );
    return { name, password };
  }

  /**
   * Who runs the command: the OS user with the admin role (`os:<user>`), or with
   * {@link USER_VARIABLE}/{@link PASSWORD_VARIABLE} that account (`account:<name>`), its password
   * checked against PostgreSQL once per run.
   */
  principal(): Promise<Principal> {
    this.principalPromise ??= this.resolvePrincipal();
    return this.principalPromise;
  }

  private async resolvePrincipal(): Promise<Principal> {
    const credentials = this.accountCredentials();
    if (!credentials) return { actor: `os:${osUser(this.env)}`, role: 'admin', tenant: null };
    const db = await this.database();
    const account = await db.accounts.get(credentials.name);
    const matches = await verifyPassword(credentials.password, account?.passwordHash ?? NO_ACCOUNT_HASH);
    if (!account || !matches)
      throw new CliError(`${USER_VARIABLE}/${PASSWORD_VARIABLE}: no account "${credentials.name}" with this password; nothing was done`);
    if (account.disabledAt)
      throw new CliError(
        `${USER_VARIABLE}: the account "${account.name}" is disabled (\`ceres-jobs users enable ${account.name}\`); nothing was done`,
      );
    return { actor: `account:${account.name}`, role: account.role, tenant: account.tenant };
  }

  /**
   * Checks that whoever runs the command may do what it needs (exit 1 naming the role needed);
   * for a mutating command, also that the audit trail can be written (exit 1 when it cannot:
   * nothing is done unrecorded).
   */
  async authorize(need: Need): Promise<Principal> {
    const mutating = need !== 'read' && !READ_ACTIONS.has(need);
    // An account is checked against PostgreSQL: unreachable, a mutating command says why it was not done.
    const principal = await this.principal().catch((error: unknown) => {
      if (mutating && error instanceof UnreachableError)
        throw new CliError(`not done: the audit trail cannot be written (${error.message}); try again once it is back`);
      throw error;
    });
    if (!roleAllows(principal.role, need)) throw new CliError(roleRefusal(need, principal.role));
    if (mutating) await this.auditTrail();
    return principal;
  }

  /** The database, to record an action in: without it the action is refused (exit 1), not done. */
  private async auditTrail(): Promise<Db> {
    try {
      return await this.database();
    } catch (error) {
      if (error instanceof UnreachableError)
        throw new CliError(`not done: the audit trail cannot be written (${error.message}); try again once it is back`);
      if (error instanceof UsageError)
        throw new UsageError(`${error.message}; every mutating command records an audit row in PostgreSQL (nothing was done)`);
      throw error;
    }
  }

  /**
   * Does `act` as `action` only if the audit trail can be written, then appends one row to it
   * (`audited` of @ceres/db): the principal as actor, `entry`'s tenant (else the principal's),
   * target and parameters (masked again by the audit log; never pass personal data).
   */
  async audited<T>(
    action: Action,
    entry: Pick<AuditEntry, 'target' | 'params'> & { tenant?: string | null },
    act: () => Promise<T>,
    outcomeOf?: (result: T) => string,
  ): Promise<T> {
    const principal = await this.principal();
    const db = await this.auditTrail();
    try {
      return await audited(
        db.audit,
        {
          actor: principal.actor,
          role: principal.role,
          tenant: entry.tenant ?? principal.tenant,
          action,
          target: entry.target,
          params: entry.params,
        },
        act,
        outcomeOf,
      );
    } catch (error) {
      if (error instanceof AuditUnavailableError) throw new CliError(`not done: ${error.message}`);
      throw error;
    }
  }

  /**
   * The tenant a command is confined to: a tenant-scoped account's own (another `--tenant` is
   * refused, exit 1), else `given` (undefined: every tenant).
   */
  async scopedTenant(given: string | undefined): Promise<string | undefined> {
    const { tenant } = await this.principal();
    if (tenant === null) return given;
    if (given !== undefined && given !== tenant)
      throw new CliError(`this account sees and acts on tenant "${tenant}" only: --tenant ${given} refused`);
    return tenant;
  }

  /** Refuses `what` (something acting on or showing every tenant's jobs) to a tenant-scoped account. */
  async refuseScoped(what: string, instead?: string): Promise<void> {
    const { tenant } = await this.principal();
    if (tenant !== null)
      throw new CliError(
        `${what} concerns every tenant: refused to an account scoped to tenant "${tenant}"${instead ? `; ${instead}` : ''}`,
      );
  }

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
