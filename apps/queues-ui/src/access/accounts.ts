import { createHmac, randomBytes } from 'node:crypto';
import { hashPassword, PeriodicRead, verifyPassword, type Principal } from '@ceres/app-kit';
import type { AccountRow } from '@ceres/db';
import { HttpError, type ResolvedPrincipal } from '@ceres/http';

/** Verified credentials remembered; more: forgotten (each costs one scrypt again). */
const VERIFIED_MAX = 10_000;

export interface OperatorAccountsOptions {
  /** `operator_accounts` (PostgreSQL): only `list()` is read. */
  store: { list(): Promise<AccountRow[]> };
  /** How often the accounts are read again (`QUEUES_UI_ACCOUNTS_REFRESH_MS`). */
  refreshMs: number;
  log: { warn(message: string): void; info(message: string): void };
}

/** What a verified Authorization header stands for, as long as the account's row is the one verified. */
interface Verified {
  name: string;
  updatedAt: number;
}

/**
 * The operator accounts, held in memory so that no request queries PostgreSQL: every row of
 * `operator_accounts`, read again every `refreshMs`. A password is verified with scrypt (~60 ms)
 * once; the Authorization header that carried it is then remembered by a keyed hash (a random key
 * of this process), until the account's row changes (role, tenant, password, disabled) or the
 * account is gone. A disabled account is refused like an unknown one (401).
 *
 * A failed read keeps the accounts read last (and warns once per outage). Before the first read
 * succeeds, an account's credentials cannot be checked: 503 DATABASE_UNAVAILABLE (not counted as a
 * failed login).
 */
export class OperatorAccounts {
  private byName = new Map<string, AccountRow>();
  private readonly verified = new Map<string, Verified>();
  /** One scrypt at a time per header: a browser loading the page sends the same one many times at once. */
  private readonly verifying = new Map<string, Promise<ResolvedPrincipal>>();
  private readonly key = randomBytes(32);
  /** Verified for a user that does not exist, so that an unknown user costs the time a known one does. */
  private readonly decoy = hashPassword(randomBytes(18).toString('base64url'));
  private readonly reads: PeriodicRead<AccountRow[]>;

  constructor(options: OperatorAccountsOptions) {
    this.reads = new PeriodicRead({
      read: () => options.store.list(),
      apply: (rows) => this.apply(rows),
      refreshMs: options.refreshMs,
      what: 'the operator accounts',
      whileFailing: {
        beforeFirst: 'only the bootstrap admin (QUEUES_UI_USER) can log in until it answers',
        afterFirst: 'the accounts read last stay in force (a change takes effect once it answers again)',
      },
      log: options.log,
    });
  }

  /** For `basicAuthPlugin`'s `resolve`: the account's principal, undefined (401), or a 503 before the first read. */
  readonly resolve = (credentials: { user: string; pass: string }, header: string): ResolvedPrincipal | Promise<ResolvedPrincipal> => {
    const cacheKey = createHmac('sha256', this.key).update(header).digest('base64');
    const known = this.verified.get(cacheKey);
    if (known) {
      const account = this.byName.get(known.name);
      if (account && account.disabledAt === null && account.updatedAt.getTime() === known.updatedAt) return principalOf(account);
      this.verified.delete(cacheKey);
    }
    if (!this.reads.loaded) {
      return new HttpError(
        'DATABASE_UNAVAILABLE',
        'the operator accounts cannot be checked yet (PostgreSQL has not answered since queues-ui started); try again shortly',
      );
    }
    let pending = this.verifying.get(cacheKey);
    if (!pending) {
      pending = this.verify(credentials, cacheKey).finally(() => this.verifying.delete(cacheKey));
      this.verifying.set(cacheKey, pending);
    }
    return pending;
  };

  private async verify({ user, pass }: { user: string; pass: string }, cacheKey: string): Promise<ResolvedPrincipal> {
    const account = this.byName.get(user);
    if (!account || account.disabledAt !== null) {
      await verifyPassword(pass, await this.decoy);
      return undefined;
    }
    if (!(await verifyPassword(pass, account.passwordHash))) return undefined;
    // The row may have changed while scrypt ran: remembered only if the password verified is still the account's.
    const current = this.byName.get(user);
    if (!current || current.disabledAt !== null || current.passwordHash !== account.passwordHash) return undefined;
    if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
    this.verified.set(cacheKey, { name: current.name, updatedAt: current.updatedAt.getTime() });
    return principalOf(current);
  }

  /** Reads the accounts once (true: read), then again every `refreshMs` until {@link stop}. */
  start(): Promise<boolean> {
    return this.reads.start();
  }

  stop(): void {
    this.reads.stop();
  }

  /** Reads the accounts now; false (the last set kept) when PostgreSQL did not answer. */
  refresh(): Promise<boolean> {
    return this.reads.refresh();
  }

  private apply(rows: AccountRow[]): void {
    this.byName = new Map(rows.map((row) => [row.name, row]));
    // A header verified for a row that changed (or is gone, or disabled) is verified again.
    for (const [cacheKey, known] of this.verified) {
      const account = this.byName.get(known.name);
      if (!account || account.disabledAt !== null || account.updatedAt.getTime() !== known.updatedAt) this.verified.delete(cacheKey);
    }
  }
}

const principalOf = (account: AccountRow): Principal => ({ actor: `account:${account.name}`, role: account.role, tenant: account.tenant });
