import { DEFAULT_TENANT } from '@ceres/app-kit';

/**
 * The payload key that names a job's tenant. Only jobs of another tenant than `default` carry it,
 * so a single-municipality install stores exactly what it stored before tenants existed.
 */
export const TENANT_FIELD = '$tenant';

/** What callers of the producers may add to a job type's options: the tenant it is for. */
export interface TenantOption {
  /** @defaultValue `default` */
  tenant?: string;
}

/** The tenant of a stored job's data (`default` when it names none). */
export function tenantOfData(data: unknown): string {
  if (data !== null && typeof data === 'object') {
    const tenant = (data as Record<string, unknown>)[TENANT_FIELD];
    if (typeof tenant === 'string') return tenant;
  }
  return DEFAULT_TENANT;
}

/**
 * The Redis id of a tenant's deterministic job id: `default` keeps the id as it is
 * (`email:verify:user-123`), another tenant prefixes its first part (`acme@email:verify:user-123`;
 * a queue name never holds `@`, so no tenant's id can be another's). Ids BullMQ numbered are left
 * as they are: they are unique already, and the job's data names its tenant.
 */
export function scopedJobId(tenant: string, id: string): string {
  return tenant === DEFAULT_TENANT || !id.includes(':') ? id : `${tenant}@${id}`;
}

/** The id a tenant knows for a Redis job id, or undefined when the id is another tenant's. */
export function unscopedJobId(tenant: string, id: string): string | undefined {
  const at = id.indexOf('@');
  const colon = id.indexOf(':');
  const owner = at >= 0 && (colon < 0 || at < colon) ? id.slice(0, at) : DEFAULT_TENANT;
  if (owner !== tenant) return colon < 0 ? id : undefined;
  return owner === DEFAULT_TENANT ? id : id.slice(at + 1);
}
