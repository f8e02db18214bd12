import { isTokenScope, type TokenScope } from '@ceres/app-kit';
import type { ApiTokenRow } from '@ceres/db';
import { HttpError, type ResolvedToken } from '@ceres/http';
import { apiTokenHash, type EncryptionKey, type Keyring } from '@ceres/queues';

/** How often the active tokens are read again: a revoked token is refused within this plus one read (well under 5 s). */
export const TOKEN_REFRESH_MS = 2_000;

export interface TenantTokensOptions {
  /** The `api_tokens` table (PostgreSQL): only `active()` is read. */
  store: { active(): Promise<ApiTokenRow[]> };
  /** `JOBS_ENCRYPTION_KEYS`: the stored hashes are keyed with one of its keys (the row's `keyVersion`). */
  keyring: Keyring;
  log: { warn(message: string): void; info(message: string): void };
  /** @defaultValue {@link TOKEN_REFRESH_MS} */
  refreshMs?: number;
}

/**
 * How every tenant token starts (`newApiToken()` of @ceres/queues makes them; tests/tenants.test.ts
 * checks the two agree): before the first read, only a token of this form is answered 503, anything
 * else that is not one of API_TOKENS stays a 401.
 */
export const TENANT_TOKEN_PREFIX = 'cjt_';

/** A read that takes longer counts as failed (the last set stays), so a hung query does not stop the refreshes. */
const READ_TIMEOUT_MS = 4_000;

/** The active tokens of one keyring version: hash → owner (with its scopes). */
type ByHash = Map<string, ResolvedToken>;

/** Presented tokens remembered with their owner between two reads (the HMAC costs a request ~2 µs); more: forgotten. */
const RESOLVED_MAX = 10_000;

/**
 * The tenants' API tokens, held in memory so that no request queries PostgreSQL: the unrevoked rows
 * of `api_tokens`, read again every {@link TOKEN_REFRESH_MS}. A presented token is hashed with the
 * key of each keyring version the rows use and looked up.
 *
 * A failed read keeps the last set read (and warns once per outage, without any token or hash). Until
 * the first read succeeds, a tenant token (`cjt_…`) cannot be checked: {@link resolve} answers 503
 * DATABASE_UNAVAILABLE for it rather than a 401 that would call a good token wrong (and count
 * against its address); any other token that is not one of API_TOKENS is a 401 as always.
 */
export class TenantTokens {
  private byVersion = new Map<string, { key: EncryptionKey; tokens: ByHash }>();
  /** Presented token → owner (or none), emptied at every read: a revoked token is never served from it after the read that saw it revoked. */
  private resolved = new Map<string, ResolvedToken | undefined>();
  private loaded = false;
  private failing = false;
  private readonly unknownVersions = new Set<string>();
  /** One Set per distinct list of scopes, shared by the tokens that have it. */
  private readonly scopeSets = new Map<string, ReadonlySet<TokenScope>>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private inFlight: Promise<boolean> | undefined;
  private readonly refreshMs: number;

  constructor(private readonly options: TenantTokensOptions) {
    this.refreshMs = options.refreshMs ?? TOKEN_REFRESH_MS;
  }

  /** The owner of a presented token; undefined when it is no active token; a 503 for a tenant token before the first read. */
  readonly resolve = (presented: string): ResolvedToken | HttpError | undefined => {
    if (this.resolved.has(presented)) return this.resolved.get(presented);
    for (const { key, tokens } of this.byVersion.values()) {
      const owner = tokens.get(apiTokenHash(key, presented));
      if (owner) return this.remember(presented, owner);
    }
    if (this.loaded) return this.remember(presented, undefined);
    if (!presented.startsWith(TENANT_TOKEN_PREFIX)) return undefined;
    return new HttpError(
      'DATABASE_UNAVAILABLE',
      'the tenant API tokens cannot be checked yet (PostgreSQL has not answered since this API started); try again shortly',
    );
  };

  private remember<T extends ResolvedToken | undefined>(presented: string, owner: T): T {
    if (this.resolved.size >= RESOLVED_MAX) this.resolved.clear();
    this.resolved.set(presented, owner);
    return owner;
  }

  /**
   * A row's scopes as the auth hook checks them (migration 013 allows only the known ones; one a
   * later migration adds grants nothing on this API).
   */
  private scopesOf(row: ApiTokenRow): ReadonlySet<TokenScope> {
    const key = [...row.scopes].sort().join(',');
    let scopes = this.scopeSets.get(key);
    if (!scopes) this.scopeSets.set(key, (scopes = new Set(row.scopes.filter(isTokenScope))));
    return scopes;
  }

  /** Reads the tokens once (true: read), then again every `refreshMs` until {@link stop}. */
  async start(): Promise<boolean> {
    const ok = await this.refresh();
    this.schedule();
    return ok;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Reads the active tokens now; false (the last set kept) when PostgreSQL did not answer. */
  refresh(): Promise<boolean> {
    // One read at a time: a slow PostgreSQL does not pile reads up.
    this.inFlight ??= this.read().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.refresh().then(() => this.schedule());
    }, this.refreshMs);
    this.timer.unref();
  }

  private async read(): Promise<boolean> {
    let rows: ApiTokenRow[];
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { code: 'timeout' })), READ_TIMEOUT_MS);
      });
      rows = await Promise.race([this.options.store.active(), timeout]);
    } catch (error) {
      if (!this.failing) {
        const code = (error as { code?: unknown }).code;
        this.options.log.warn(
          `cannot read the API tokens from PostgreSQL${typeof code === 'string' ? ` (${code})` : ''}; ` +
            (this.loaded
              ? 'the tokens read last stay in force (a revocation takes effect once it answers again)'
              : 'only API_TOKENS are accepted until it answers'),
        );
      }
      this.failing = true;
      return false;
    } finally {
      clearTimeout(timer);
    }
    const byVersion: typeof this.byVersion = new Map();
    for (const row of rows) {
      const key = this.options.keyring.byVersion.get(row.keyVersion);
      if (!key) {
        if (!this.unknownVersions.has(row.keyVersion)) {
          this.unknownVersions.add(row.keyVersion);
          this.options.log.warn(
            `API token ${row.id} (tenant ${row.tenantId}) is hashed with key version "${row.keyVersion}", which JOBS_ENCRYPTION_KEYS does not list: it is refused`,
          );
        }
        continue;
      }
      let version = byVersion.get(row.keyVersion);
      if (!version) byVersion.set(row.keyVersion, (version = { key, tokens: new Map() }));
      version.tokens.set(row.tokenHash, { client: `api-token:${row.id}`, tenant: row.tenantId, scopes: this.scopesOf(row) });
    }
    this.byVersion = byVersion;
    this.resolved = new Map();
    if (this.failing && this.loaded) this.options.log.info('the API tokens are read from PostgreSQL again');
    this.failing = false;
    this.loaded = true;
    return true;
  }
}
