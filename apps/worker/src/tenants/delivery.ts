import type { Logger } from 'pino';
import type { WorkerDeps } from '../deps';
import { createMailer } from '../deps/mailer';
import { createSlack } from '../deps/slack';
import type { TenantDirectory, TenantSettings } from './directory';

/**
 * The deps a tenant's jobs run with: the platform's, with the tenant's own mailer (its sender
 * address, its SMTP relay or the platform's) and Slack webhook (its alerts and dead letters) where
 * it has them. Built on a tenant's first job and rebuilt when its settings change; a tenant
 * without delivery settings of its own (and `default`) runs with the platform's deps themselves.
 */
export class TenantDelivery {
  private readonly byTenant = new Map<string, WorkerDeps>();

  constructor(
    private readonly platform: WorkerDeps,
    private readonly directory: TenantDirectory,
    private readonly logger: Logger,
  ) {
    directory.on('changed', (tenant) => this.forget(tenant));
  }

  depsOf(tenant: string): WorkerDeps {
    let deps = this.byTenant.get(tenant);
    if (!deps) this.byTenant.set(tenant, (deps = this.build(this.directory.get(tenant))));
    return deps;
  }

  /** Closes every tenant's own mailer (the platform's deps are closed by their owner). */
  close(): void {
    for (const tenant of [...this.byTenant.keys()]) this.forget(tenant);
  }

  private build(settings: TenantSettings): WorkerDeps {
    const { config } = this.platform;
    const ownMail = settings.smtpUrl !== undefined || settings.mailFrom !== undefined;
    if (!ownMail && settings.slackWebhookUrl === undefined) return this.platform;
    return {
      ...this.platform,
      mailer: ownMail
        ? createMailer({
            smtpUrl: settings.smtpUrl ?? config.smtpUrl,
            outboxDir: config.outboxDir,
            from: settings.mailFrom ?? config.mailFrom,
            throttlePauseMs: config.smtpThrottlePauseMs,
            // Its own relay has a breaker of its own; the platform's relay shares the platform's.
            dependency: settings.smtpUrl === undefined ? 'smtp' : `smtp:${settings.id}`,
          })
        : this.platform.mailer,
      slack:
        settings.slackWebhookUrl === undefined
          ? this.platform.slack
          : createSlack({
              webhookUrl: settings.slackWebhookUrl,
              timeoutMs: config.slackTimeoutMs,
              logger: this.logger,
              dependency: `slack:${settings.id}`,
            }),
    };
  }

  private forget(tenant: string): void {
    const deps = this.byTenant.get(tenant);
    this.byTenant.delete(tenant);
    if (deps && deps.mailer !== this.platform.mailer) deps.mailer.close();
  }
}
