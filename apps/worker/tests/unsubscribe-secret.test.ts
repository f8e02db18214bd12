import { TEST_ENCRYPTION_KEYS } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../src/config';

// Issue 24 item 17, the worker's side (the API's: apps/api/tests/unsubscribe-limits.test.ts).
const env = { DATABASE_URL: 'postgres://ceres@127.0.0.1:1/unused', JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS };

describe('UNSUBSCRIBE_SECRET in the worker', () => {
  it('item 17: a list, newest first: the worker signs with the first; each entry must be strong', () => {
    const config = loadWorkerConfig({ ...env, UNSUBSCRIBE_SECRET: ' rotated-unsubscribe-secret-9876543210 , test-unsubscribe-secret-0123456789' });
    expect(config.unsubscribe.secret).toBe('rotated-unsubscribe-secret-9876543210');
    expect(() => loadWorkerConfig({ ...env, UNSUBSCRIBE_SECRET: 'rotated-unsubscribe-secret-9876543210,aaaaaaaaaaaaaaaaaaaa' })).toThrow(/^UNSUBSCRIBE_SECRET: secret #2 /);
  });
});
