/** Defaults of {@link AuthFailureLimiter}: 20 failed authentications per client per 15 minutes. */
export const AUTH_FAILURE_DEFAULTS = { max: 20, windowMs: 15 * 60_000 } as const;

export interface AuthFailureLimitOptions {
  /** Failed authentications a client may make per window; once reached, it is refused until the window ends. */
  max: number;
  windowMs: number;
  /** Clients remembered at most; the oldest window is forgotten first. @defaultValue `10000` */
  maxClients?: number;
  /** @defaultValue `Date.now` */
  now?: () => number;
}

/**
 * Counts failed authentications per client address in a fixed window that starts at the first
 * failure. A client that reached `max` is refused (even with the right credentials, so guessing
 * learns nothing) until its window ends. In memory, per process.
 */
export class AuthFailureLimiter {
  private readonly clients = new Map<string, { failures: number; resetAt: number }>();
  private readonly maxClients: number;
  private readonly now: () => number;

  constructor(private readonly options: AuthFailureLimitOptions) {
    this.maxClients = options.maxClients ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  get max(): number {
    return this.options.max;
  }

  /** Whole seconds until `client` may try again; 0 when it may try now. */
  retryAfterSeconds(client: string): number {
    // The hot path: no failures anywhere, nothing to look up.
    if (this.clients.size === 0) return 0;
    const entry = this.clients.get(client);
    if (!entry) return 0;
    const now = this.now();
    if (entry.resetAt <= now) {
      this.clients.delete(client);
      return 0;
    }
    return entry.failures >= this.options.max ? Math.max(1, Math.ceil((entry.resetAt - now) / 1000)) : 0;
  }

  /** Records one failed authentication of `client`. */
  fail(client: string): void {
    const now = this.now();
    let entry = this.clients.get(client);
    if (!entry || entry.resetAt <= now) {
      if (entry) this.clients.delete(client);
      if (this.clients.size >= this.maxClients) this.forgetOldest(now);
      entry = { failures: 0, resetAt: now + this.options.windowMs };
      this.clients.set(client, entry);
    }
    entry.failures++;
  }

  private forgetOldest(now: number): void {
    for (const [client, entry] of this.clients) {
      if (entry.resetAt <= now) this.clients.delete(client);
    }
    // Insertion order is window order: the first key has the oldest window.
    while (this.clients.size >= this.maxClients) this.clients.delete(this.clients.keys().next().value!);
  }
}
