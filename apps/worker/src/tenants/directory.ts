import { EventEmitter } from 'node:events';
import type { TenantRow, TenantStore } from '@ceres/db';
import { openTenantSecret, type Keyring } from '@ceres/queues';
import type { Logger } from 'pino';
import { errorSummary } from '../redact';

/** What the worker needs of a tenant: its state, its rates, its delivery settings (secrets opened). */
export interface TenantSettings {
  id: string;
  disabled: boolean;
  /** Jobs per second in the email / newsletter queue, across every worker process; undefined: no limit of its own. */
  ratePerSecond: { email?: number; newsletter?: number };
  mailFrom?: string;
  smtpUrl?: string;
  slackWebhookUrl?: string;
}

/** A tenant nobody configured (`default` before any change, or a tenant app code names without a row). */
const unconfigured = (id: string): TenantSettings => ({ id, disabled: false, ratePerSecond: {} });

export interface TenantDirectoryEvents {
  /** A tenant's settings changed (or it appeared, or its row is gone). */
  changed: [tenant: string];
}

export interface TenantDirectoryOptions {
  store: Pick<TenantStore, 'list' | 'lastChange'>;
  keyring: Keyring | undefined;
  logger: Logger;
  /** How often PostgreSQL is asked whether a tenant changed (one `max(updated_at)`). @defaultValue 5000 */
  refreshMs?: number;
}

/**
 * The tenants as the worker sees them, read from PostgreSQL at start and whenever their last
 * change moves (asked every `refreshMs`, so `tenants update` reaches running workers within
 * that, plus one load). Lookups are in memory: a job costs no query. States: created → `start()`
 * (first load; a failure keeps every tenant unconfigured and tries again) → `stop()`.
 */
export class TenantDirectory extends EventEmitter<TenantDirectoryEvents> {
  private tenants = new Map<string, TenantSettings>();
  private lastChange: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  /** Whether the last read failed: one warning per outage, one line when reads work again. */
  private failing = false;

  constructor(private readonly options: TenantDirectoryOptions) {
    super();
  }

  /** The settings of `tenant` (an unknown tenant: unconfigured, enabled). */
  get(tenant: string): TenantSettings {
    return this.tenants.get(tenant) ?? unconfigured(tenant);
  }

  async start(): Promise<this> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? 5_000);
    this.timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reloads the tenants when their last change moved; resolves once done (or failed, logged). */
  refresh(): Promise<void> {
    this.refreshing ??= this.load().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  private async load(): Promise<void> {
    const { store, logger } = this.options;
    try {
      const last = (await store.lastChange())?.getTime();
      const rows = last === this.lastChange ? undefined : await store.list();
      if (this.failing) logger.info('tenants: read from PostgreSQL again');
      this.failing = false;
      if (!rows) return;
      const next = new Map(rows.map((row) => [row.id, this.settingsOf(row)]));
      const before = this.tenants;
      this.tenants = next;
      this.lastChange = last;
      for (const id of new Set([...before.keys(), ...next.keys()])) {
        if (JSON.stringify(before.get(id)) !== JSON.stringify(next.get(id))) this.emit('changed', id);
      }
    } catch (error) {
      if (!this.failing)
        logger.warn({ err: errorSummary(error) }, 'tenants: could not read them from PostgreSQL; keeping the last ones read');
      this.failing = true;
    }
  }

  private settingsOf(row: TenantRow): TenantSettings {
    const settings: TenantSettings = {
      id: row.id,
      disabled: row.disabledAt !== null,
      ratePerSecond: {
        ...(row.emailRatePerSecond === null ? {} : { email: row.emailRatePerSecond }),
        ...(row.newsletterRatePerSecond === null ? {} : { newsletter: row.newsletterRatePerSecond }),
      },
    };
    if (row.mailFrom !== null) settings.mailFrom = row.mailFrom;
    const smtpUrl = this.open(row, 'smtpUrl', row.smtpUrlSealed);
    if (smtpUrl !== undefined) settings.smtpUrl = smtpUrl;
    const slackWebhookUrl = this.open(row, 'slackWebhookUrl', row.slackWebhookUrlSealed);
    if (slackWebhookUrl !== undefined) settings.slackWebhookUrl = slackWebhookUrl;
    return settings;
  }

  /** A sealed setting opened; one that does not open is left unset (the platform's), said once per load. */
  private open(row: TenantRow, secret: 'smtpUrl' | 'slackWebhookUrl', sealed: string | null): string | undefined {
    if (sealed === null) return undefined;
    try {
      if (!this.options.keyring) throw new Error('JOBS_ENCRYPTION_KEYS is not set');
      return openTenantSecret(this.options.keyring, row.id, secret, sealed);
    } catch (error) {
      this.options.logger.error(
        { tenant: row.id, setting: secret, err: errorSummary(error) },
        "tenants: a sealed setting does not open with this worker's keys; the platform's is used instead",
      );
      return undefined;
    }
  }
}
