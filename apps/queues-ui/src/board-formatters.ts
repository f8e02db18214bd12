import { maskEmail, maskEmails } from '@ceres/app-kit';
import {
  DIGEST_FIELD,
  encryptedVersion,
  isEncrypted,
  personalFields,
  registry,
  SEALED_FIELD,
  sealedFieldNames,
  TENANT_FIELD,
  tenantOfData,
  type JobDefinition,
  type QueueName,
} from '@ceres/queues';

/*
 * What Bull Board shows of a job's data and return value. The app holds no decryption key (it
 * needs none and should not be able to read personal data), so an encrypted field shows as such;
 * a personal field stored in plaintext (a job written before encryption) shows masked: an address
 * as `j***@example.com`, anything else (tokens, names) not at all. Addresses in any other string
 * are masked too.
 */

const hidden = (value: unknown, field: string): unknown => {
  if (isEncrypted(value)) return `[encrypted, key ${encryptedVersion(value) ?? '?'}]`;
  if (typeof value === 'string' && field.toLowerCase().includes('email')) return maskEmail(value);
  return '[hidden]';
};

function maskDeep(value: unknown): unknown {
  if (typeof value === 'string') return maskEmails(value);
  if (Array.isArray(value)) return value.map(maskDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, inner]) => [key, maskDeep(inner)]));
  }
  return value;
}

/** The personal fields of any job type of `queue`: the formatter sees the data, not the job's name. */
export function queuePersonalFields(queue: QueueName): Set<string> {
  const jobs = registry[queue].jobs as Record<string, JobDefinition>;
  return new Set(Object.values(jobs).flatMap((definition) => personalFields(definition)));
}

/** Bull Board's `data` formatter for `queue`. */
export function maskJobData(queue: QueueName): (data: unknown) => unknown {
  const personal = queuePersonalFields(queue);
  return (data) => {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return maskDeep(data);
    const shown: Record<string, unknown> = {};
    // The tenant first (only a job of another tenant than default names one), as stored.
    const tenant = (data as Record<string, unknown>)[TENANT_FIELD];
    if (typeof tenant === 'string') shown[TENANT_FIELD] = tenant;
    for (const [field, value] of Object.entries(data as Record<string, unknown>)) {
      if (field === DIGEST_FIELD || field === TENANT_FIELD) continue;
      // The personal fields sealed together show one by one, each as encrypted.
      if (field === SEALED_FIELD && isEncrypted(value)) {
        for (const name of sealedFieldNames(value)) shown[name] = hidden(value, name);
        continue;
      }
      shown[field] = personal.has(field) || isEncrypted(value) ? hidden(value, field) : maskDeep(value);
    }
    return shown;
  };
}

/**
 * Bull Board's `name` formatter: the job's name and the tenant it is for, `welcome · tenant acme`
 * (`· tenant default` for a job naming none), on every list and job page: the board is the platform
 * operators' view of every tenant's jobs. A tenant id is no personal data (`^[a-z0-9-]{1,40}$`).
 */
export function jobNameWithTenant(job: { name?: string; data?: unknown }): string {
  let data = job.data;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      data = undefined;
    }
  }
  return `${job.name ?? ''} · tenant ${tenantOfData(data)}`;
}

/** A name as {@link jobNameWithTenant} shows it, without its tenant: `alert · tenant acme` → `alert`. */
export const untenantedJobName = (name: string): string => name.replace(/ · tenant [a-z0-9-]{1,40}$/, '');

/** Bull Board's `returnValue` formatter: addresses masked wherever they appear. */
export const maskReturnValue = (value: unknown): unknown => maskDeep(value);
