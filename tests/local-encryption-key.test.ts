import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { parseKeyring } from '@ceres/queues';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without type declarations
import { localEncryptionKey, withEncryptionKey } from '../scripts/lib/encryption-key.mjs';

const EXAMPLE = readFileSync(new URL('../.env.example', import.meta.url), 'utf8');

describe('npm start and JOBS_ENCRYPTION_KEYS', () => {
  it('generates a valid keyring entry', () => {
    const ring = parseKeyring(localEncryptionKey());
    expect(ring.current.version).toBe('v1');
    expect(localEncryptionKey()).not.toBe(localEncryptionKey());
  });

  it('fills the empty line of a .env made from .env.example', () => {
    const updated = withEncryptionKey(EXAMPLE, {}) as string;
    const value = parseEnv(updated).JOBS_ENCRYPTION_KEYS!;
    expect(parseKeyring(value).current.key).toHaveLength(32);
    expect(updated.split('\n').length).toBe(EXAMPLE.split('\n').length);
  });

  it('adds a line to an older .env without one, keeping everything else', () => {
    const old = 'API_TOKENS=abc\nQUEUES_UI_PASS=def';
    const updated = withEncryptionKey(old, {}) as string;
    expect(updated.startsWith(`${old}\n`)).toBe(true);
    expect(parseEnv(updated)).toMatchObject({
      API_TOKENS: 'abc',
      QUEUES_UI_PASS: 'def',
      JOBS_ENCRYPTION_KEYS: expect.stringMatching(/^v1:/),
    });
  });

  it('never touches an existing key, in the file or in the shell', () => {
    expect(withEncryptionKey('JOBS_ENCRYPTION_KEYS=v9:abc\n', {})).toBeUndefined();
    expect(withEncryptionKey('API_TOKENS=abc\n', { JOBS_ENCRYPTION_KEYS: 'v9:abc' })).toBeUndefined();
  });
});
