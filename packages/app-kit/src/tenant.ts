/** Lowercase letters, digits and `-`, 1 to 40 characters. */
export const TENANT_ID = /^[a-z0-9-]{1,40}$/;
/** The tenant a single-municipality install uses without knowing tenants exist; it always exists. */
export const DEFAULT_TENANT = 'default';

/** Why `value` is not a tenant id, or undefined when it is one. */
export function tenantIdProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (!TENANT_ID.test(value)) return 'must be 1-40 lowercase letters, digits or "-"';
  return undefined;
}
