import { DEFAULT_TENANT } from '@ceres/app-kit';
import type { CeresStore } from '@ceres/queues';
import type { Queue } from 'bullmq';
import type { TenantDirectory } from './directory';

/** Whether a tenant's job may start now, or how long it waits without using an attempt. */
export type Admission = { wait: 0 } | { wait: number; reason: 'disabled' | 'held' | 'rate' };

type QueueKeys = Pick<Queue, 'name' | 'toKey'>;

const NOW: Admission = { wait: 0 };

/**
 * Each tenant's share of a queue beyond its fair position: a disabled tenant's jobs wait, a
 * tenant's rate holds across every worker process, its own relay's back-pressure holds it alone.
 * A tenant with none of these (`default` among them, unless given a rate) costs its jobs no Redis
 * call; the others one script call per job (docs/tenants.md).
 */
export class TenantGate {
  /** Tenants this process held, per queue (ms since the epoch): no need to ask Redis until then. */
  private readonly heldUntil = new Map<string, number>();

  constructor(
    private readonly directory: TenantDirectory,
    private readonly store: Pick<CeresStore, 'tenantWait' | 'holdTenant'>,
    /** How long a disabled tenant's job is put off each time it is taken (`WORKER_TENANT_PARK_MS`). */
    private readonly parkMs: number,
  ) {}

  /** Whether a job of `tenant` may start now: decided in memory (no promise) unless the tenant has a rate or a relay of its own. */
  admit(queue: QueueKeys, tenant: string, jobId: string): Admission | Promise<Admission> {
    const settings = this.directory.get(tenant);
    if (settings.disabled) return { wait: this.parkMs, reason: 'disabled' };
    const rate = queue.name === 'email' || queue.name === 'newsletter' ? settings.ratePerSecond[queue.name] : undefined;
    if (rate === undefined && !this.hasOwnRelay(tenant)) return NOW;
    const local = (this.heldUntil.get(`${queue.name}\0${tenant}`) ?? 0) - Date.now();
    if (local > 0) return { wait: local, reason: 'held' };
    return this.ask(queue, tenant, jobId, rate);
  }

  private async ask(queue: QueueKeys, tenant: string, jobId: string, rate: number | undefined): Promise<Admission> {
    const { ms, held } = await this.store.tenantWait(
      queue,
      tenant,
      jobId,
      rate === undefined ? undefined : Math.max(1, Math.round(1000 / rate)),
    );
    if (ms === 0) return NOW;
    return { wait: ms, reason: held ? 'held' : 'rate' };
  }

  /** Whether `tenant`'s mails leave through a relay of its own: its back-pressure then holds it alone. */
  hasOwnRelay(tenant: string): boolean {
    return tenant !== DEFAULT_TENANT && this.directory.get(tenant).smtpUrl !== undefined;
  }

  /** Holds `tenant` in `queue` for `ms` in every worker process. */
  async hold(queue: QueueKeys, tenant: string, ms: number): Promise<void> {
    this.heldUntil.set(`${queue.name}\0${tenant}`, Date.now() + ms);
    await this.store.holdTenant(queue, tenant, ms);
  }
}
