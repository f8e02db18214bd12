import { TEST_ENCRYPTION_KEYS } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { loadWorkerConfig } from '../src/config';

// Issue 24 item 17, the worker's side (the API's: apps/api/tests/unsubscribe-limits.test.ts).
const env = { DATABASE_URL: 'postgres://ceres@127.0.0.1:1/unused', JOBS_ENCRYPTION_KEYS: TEST_ENCRYPTION_KEYS };

describe('UNSUBSCRIBE_SECRET in the worker', () => {
  it('item 17: a list, newest first: the worker signs with the first; each entry must be strong', () => {
    const config = loadWorkerConfig({
      ...env,
      UNSUBSCRIBE_SECRET: ' rotated-unsubscribe-secret-9876543210 , test-unsubscribe-secret-0123456789',
    });
    expect(config.unsubscribe.secret).toBe('rotated-unsubscribe-secret-9876543210');
    expect(() => loadWorkerConfig({ ...env, UNSUBSCRIBE_SECRET: 'rotated-unsubscribe-secret-9876543210,aaaaaaaaaaaaaaaaaaaa' })).toThrow(
      /^UNSUBSCRIBE_SECRET: secret #2 /,
    );
  });
});

describe('the unsubscribe URL (issue 24 item 12)', () => {
  it('is at most 2,000 characters as the links write it, so POST /campaigns can bound a mail', () => {
    const base = { ...env, UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret-0123456789' };
    expect(() => loadWorkerConfig({ ...base, UNSUBSCRIBE_URL: `https://api.ceres.example/${'a'.repeat(2_000)}` })).toThrow(
      /^UNSUBSCRIBE_URL: /,
    );
    // Short, but 1,200 characters that percent-encode to 6 each.
    expect(() => loadWorkerConfig({ ...base, UNSUBSCRIBE_URL: `https://api.ceres.example/${'é'.repeat(1_200)}` })).toThrow(
      /^UNSUBSCRIBE_URL: the unsubscribe URL is longer than 2,000 characters/,
    );
    expect(() => loadWorkerConfig({ ...base, APP_URL: `https://ceres.example/${'é'.repeat(400)}` })).toThrow(/^APP_URL: /);
    expect(loadWorkerConfig({ ...base, UNSUBSCRIBE_URL: 'https://api.ceres.example/unsubscribe' }).unsubscribe.url).toBe(
      'https://api.ceres.example/unsubscribe',
    );
  });
});
