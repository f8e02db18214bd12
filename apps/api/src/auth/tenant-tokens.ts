import { isTokenScope, PeriodicRead, type TokenScope } from '@ceres/app-kit';
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
  private readonly reads: PeriodicRead<ApiTokenRow[]>;
  private readonly unknownVersions = new Set<string>();
  /** One Set per distinct list of scopes, shared by the tokens that have it. */
  private readonly scopeSets = new Map<string, ReadonlySet<TokenScope>>();

  constructor(private readonly options: TenantTokensOptions) {
    this.reads = new PeriodicRead({
      read: () => options.store.active(),
      apply: (rows) => this.apply(rows),
      refreshMs: options.refreshMs ?? TOKEN_REFRESH_MS,
      what: 'the API tokens',
      whileFailing: {
        beforeFirst: 'only API_TOKENS are accepted until it answers',
        afterFirst: 'the tokens read last stay in force (a revocation takes effect once it answers again)',
      },
      log: options.log,
    });
  }

  /** The owner of a presented token; undefined when it is no active token; a 503 for a tenant token before the first read. */
  readonly resolve = (presented: string): ResolvedToken | HttpError | undefined => {
    if (this.resolved.has(presented)) return this.resolved.get(presented);
    for (const { key, tokens } of this.byVersion.values()) {
      const owner = tokens.get(apiTokenHash(key, presented));
      if (owner) return this.remember(presented, owner);
    }
    if (this.reads.loaded) return this.remember(presented, undefined);
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
  start(): Promise<boolean> {
    return this.reads.start();
  }

  stop(): void {
    this.reads.stop();
  }

  /** Reads the active tokens now; false (the last set kept) when PostgreSQL did not answer. */
  refresh(): Promise<boolean> {
    return this.reads.refresh();
  }

  private apply(rows: ApiTokenRow[]): void {
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
  }
}
