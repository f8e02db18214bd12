// The tenant of a job: its id and its data (issue 26). Pure functions, and the producer's checks.
import { TEST_ENCRYPTION_KEYS } from '@ceres/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { loadQueuesConfig, PayloadValidationError, QueueClient, scopedJobId, tenantOfData, TENANT_FIELD, unscopedJobId } from '../src';

describe('job ids of tenants', () => {
  it('default keeps the id; another tenant prefixes the first part; numbered ids stay', () => {
    expect(scopedJobId('default', 'email:verify:user-123')).toBe('email:verify:user-123');
    expect(scopedJobId('acme', 'email:verify:user-123')).toBe('acme@email:verify:user-123');
    expect(scopedJobId('acme', '42')).toBe('42');
  });

  it('a tenant sees its own ids as it gave them, and no other tenant’s', () => {
    expect(unscopedJobId('acme', 'acme@email:verify:user-123')).toBe('email:verify:user-123');
    expect(unscopedJobId('default', 'email:verify:user-123')).toBe('email:verify:user-123');
    expect(unscopedJobId('acme', 'email:verify:user-123')).toBeUndefined();
    expect(unscopedJobId('default', 'acme@email:verify:user-123')).toBeUndefined();
    expect(unscopedJobId('beta', 'acme@email:verify:user-123')).toBeUndefined();
    // A key may hold "@" (an address): only the first part names the tenant.
    expect(unscopedJobId('default', 'email:verify:ana@example.com')).toBe('email:verify:ana@example.com');
    expect(unscopedJobId('acme', 'acme@email:verify:ana@example.com')).toBe('email:verify:ana@example.com');
  });

  it('the data names the tenant; none is default', () => {
    expect(tenantOfData({ [TENANT_FIELD]: 'acme', n: 1 })).toBe('acme');
    expect(tenantOfData({ n: 1 })).toBe('default');
    expect(tenantOfData(null)).toBe('default');
  });
});

describe('the tenant option of a producer', () => {
  const client = new QueueClient({
    config: loadQueuesConfig({ REDIS_URL: 'redis://127.0.0.1:9', JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS }),
    onWarning: () => {},
  });
  const welcome = { userId: 'user-1', email: 'ana@example.com', firstName: 'Ana' };
  afterAll(() => client.close());

  it('refuses a tenant id that is not one, naming the option, before anything reaches Redis', () => {
    for (const tenant of ['Acme', '', 'a'.repeat(41), 'acme corp', 'acme@x']) {
      let error: unknown;
      try {
        client.check('email/welcome', welcome, { tenant });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(PayloadValidationError);
      expect((error as PayloadValidationError).issues.map((issue) => issue.field)).toEqual(['tenant']);
    }
  });

  it('accepts a tenant id', () => {
    expect(() => client.check('email/welcome', welcome, { tenant: 'villa-ceres-2' })).not.toThrow();
  });
});
