import { randomUUID } from 'node:crypto';
import { sharedRedis, testEncryptionKey, type RedisPeer } from '@ceres/testing';
import { UnrecoverableError, Worker } from 'bullmq';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createQueueClient,
  createRedisConnection,
  decryptField,
  decryptPayload,
  DIGEST_FIELD,
  encryptField,
  JOB_TYPES,
  loadQueuesConfig,
  parseKeyring,
  PayloadDecryptionError,
  personalFields,
  findJobDefinition,
  openPayload,
  sealedFieldNames,
} from '../src';
import { sealPayload } from '../src/crypto/fields';

describe('JOBS_ENCRYPTION_KEYS', () => {
  const key = testEncryptionKey('v1');
  const secret = key.slice(3);

  it('is a keyring, newest first: the first key encrypts, every listed key decrypts', () => {
    const v2 = testEncryptionKey('v2');
    const ring = parseKeyring(`${v2}, ${key}`);
    expect(ring.current.version).toBe('v2');
    expect([...ring.byVersion.keys()]).toEqual(['v2', 'v1']);
    const old = encryptField(parseKeyring(key), 'email/welcome', 'email', 'ana@example.com');
    expect(old).toMatch(/^enc:v1:/);
    expect(decryptField(ring, 'email/welcome', 'email', old)).toBe('ana@example.com');
    expect(encryptField(ring, 'email/welcome', 'email', 'ana@example.com')).toMatch(/^enc:v2:/);
  });

  it.each([
    ['', /^JOBS_ENCRYPTION_KEYS: lists no key/],
    [secret, /^JOBS_ENCRYPTION_KEYS: key #1 has no version/],
    [`v 1:${secret}`, /^JOBS_ENCRYPTION_KEYS: key #1: the version must be/],
    [`v1:${secret},v1:${secret}`, /^JOBS_ENCRYPTION_KEYS: version "v1" is listed twice/],
    ['v1:not base64!', /^JOBS_ENCRYPTION_KEYS: key "v1" is not base64/],
    ['v1:c2hvcnQ=', /^JOBS_ENCRYPTION_KEYS: key "v1" is 5 bytes; AES-256 needs 32/],
  ])('refuses %j with a ConfigError naming the variable and never the key', (raw, message) => {
    let error: unknown;
    try {
      loadQueuesConfig({ JOBS_ENCRYPTION_KEYS: raw === '' ? ' , ' : raw });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('JOBS_ENCRYPTION_KEYS');
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain(secret);
  });

  // Issue 24 item 13: the other secrets are checked for strength; a key must look random too.
  it.each([
    ['all zero', Buffer.alloc(32)],
    ['one byte repeated', Buffer.alloc(32, 0x41)],
    ['a short pattern repeated', Buffer.from('0102030405060708'.repeat(4), 'hex')],
    ['a passphrase of 32 printable characters', Buffer.from('correct horse battery staple 123')],
  ])('refuses a weak key (%s) with a ConfigError naming the variable and the key', (_what, bytes) => {
    const strong = testEncryptionKey('v2');
    let error: unknown;
    try {
      loadQueuesConfig({ JOBS_ENCRYPTION_KEYS: `${strong},v1:${bytes.toString('base64')}` });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe('JOBS_ENCRYPTION_KEYS');
    expect((error as Error).message).toMatch(/^JOBS_ENCRYPTION_KEYS: key "v1" does not look random/);
    expect((error as Error).message).not.toContain(bytes.toString('base64'));
    expect((error as Error).message).not.toContain(strong.slice(3));
  });

  it('accepts 1000 keys of random bytes in a row (the strength rule has no false alarm in practice)', () => {
    for (let i = 0; i < 1000; i++) expect(() => parseKeyring(testEncryptionKey('v1'))).not.toThrow();
  });

  it('is optional for the queues config: unset, there is no keyring', () => {
    expect(loadQueuesConfig({}).keyring).toBeUndefined();
  });
});

describe('field encryption', () => {
  const ring = parseKeyring(testEncryptionKey('v1'));

  it('uses a fresh IV each time and binds a ciphertext to its job type and field', () => {
    const a = encryptField(ring, 'email/verify', 'token', 'abcdef123');
    const b = encryptField(ring, 'email/verify', 'token', 'abcdef123');
    expect(a).not.toBe(b);
    expect(() => decryptField(ring, 'email/verify', 'email', a)).toThrow(PayloadDecryptionError);
    expect(() => decryptField(ring, 'email/welcome', 'token', a)).toThrow(/does not decrypt with key "v1"/);
    // One character of the ciphertext changed (the one before last: all its bits are data). It was
    // compared with the last one instead, so 1 run in 64 left the value as it was and this failed.
    const at = a.length - 2;
    const altered = `${a.slice(0, at)}${a[at] === 'A' ? 'B' : 'A'}${a.slice(at + 1)}`;
    expect(altered).not.toBe(a);
    expect(() => decryptField(ring, 'email/verify', 'token', altered)).toThrow(/wrong key, or the value was altered/);
  });

  it('decrypts a stored payload, drops the digest, and passes a plaintext value (an older job) through', () => {
    const stored = {
      userId: 'u1',
      email: encryptField(ring, 'email/welcome', 'email', 'a@example.com'),
      firstName: 'Ana',
      [DIGEST_FIELD]: 'v1:x',
    };
    expect(decryptPayload(ring, 'email/welcome', ['email', 'firstName'], stored)).toEqual({
      userId: 'u1',
      email: 'a@example.com',
      firstName: 'Ana',
    });
    expect(() => decryptPayload(undefined, 'email/welcome', ['email'], stored)).toThrow(
      /^email: is encrypted but JOBS_ENCRYPTION_KEYS is not set/,
    );
  });

  it('seals all personal fields of a job in one value, opened whole; a value copied into another job, job type or field list does not open', () => {
    const welcome = findJobDefinition('email', 'welcome')!;
    const verify = findJobDefinition('email', 'verify')!;
    const sealed = sealPayload(ring, 'email/welcome', welcome, { userId: 'u1', email: 'a@example.com', firstName: 'Ana' }, false)
      .data as Record<string, string>;
    expect(Object.keys(sealed).sort()).toEqual(['$sealed', 'userId']);
    expect(sealed.$sealed).toMatch(/^enc:v1:email,firstName:[\w-]+$/);
    expect(sealedFieldNames(sealed.$sealed!)).toEqual(['email', 'firstName']);
    expect(openPayload(ring, 'email/welcome', welcome, sealed)).toEqual({ userId: 'u1', email: 'a@example.com', firstName: 'Ana' });
    // Another user's job (the identity is in the authenticated data), another job type, an edited field list.
    expect(() => openPayload(ring, 'email/welcome', welcome, { ...sealed, userId: 'u2' })).toThrow(/does not open with key "v1"/);
    expect(() => openPayload(ring, 'email/verify', verify, sealed)).toThrow(PayloadDecryptionError);
    expect(() =>
      openPayload(ring, 'email/welcome', welcome, { ...sealed, $sealed: sealed.$sealed!.replace('email,firstName', 'firstName,email') }),
    ).toThrow(/does not open/);
    // A key this process does not list: a retryable kind, named.
    const other = parseKeyring(testEncryptionKey('v9'));
    const error = (() => {
      try {
        openPayload(other, 'email/welcome', welcome, sealed);
      } catch (caught) {
        return caught as PayloadDecryptionError;
      }
    })();
    expect(error?.kind).toBe('unknown-key');
    expect(error?.message).toBe('$sealed: encrypted with key "v1", which JOBS_ENCRYPTION_KEYS does not list (listed: v9)');
    expect(() => openPayload(undefined, 'email/welcome', welcome, sealed)).toThrow(
      /^\$sealed: is encrypted but JOBS_ENCRYPTION_KEYS is not set/,
    );
  });

  it('opens the older format too (each field its own enc: value)', () => {
    const welcome = findJobDefinition('email', 'welcome')!;
    const stored = {
      userId: 'u1',
      email: encryptField(ring, 'email/welcome', 'email', 'a@example.com'),
      firstName: encryptField(ring, 'email/welcome', 'firstName', 'Ana'),
    };
    expect(openPayload(ring, 'email/welcome', welcome, stored)).toEqual({ userId: 'u1', email: 'a@example.com', firstName: 'Ana' });
  });

  it('every job type marks its personal fields, never its key field', () => {
    const marked = Object.fromEntries(JOB_TYPES.map(({ type, definition }) => [type, personalFields(definition)]));
    expect(marked['email/verify']).toEqual(['email', 'firstName', 'token']);
    expect(marked['email/welcome']).toEqual(['email', 'firstName']);
    for (const { type, definition } of JOB_TYPES) {
      expect(personalFields(definition), type).not.toContain(definition.keyField);
      const properties = Object.keys((definition.schema as { properties: object }).properties);
      for (const field of personalFields(definition)) expect(properties, `${type}.${field}`).toContain(field);
    }
  });
});

describe('duplicates of encrypted payloads (pending-or-same-payload)', () => {
  let redis: RedisPeer;
  beforeAll(() => {
    redis = sharedRedis();
  });

  it('the same payload (any key order) is a duplicate after the job finished, across a key rotation; a new token replaces it', async () => {
    const prefix = `e${randomUUID().slice(0, 8)}:`;
    const v1 = testEncryptionKey('v1');
    const config = (keys: string) => loadQueuesConfig({ REDIS_URL: redis.url, REDIS_PREFIX: prefix, JOBS_ENCRYPTION_KEYS: keys });
    const before = createQueueClient({ config: config(v1) });
    const after = createQueueClient({ config: config(`${testEncryptionKey('v2')},${v1}`) });
    const connection = createRedisConnection(config(v1), 'worker');
    // Fails every job at once: the window compares only finished jobs.
    const worker = new Worker(
      'email',
      async () => {
        throw new UnrecoverableError('finish');
      },
      { connection, prefix: config(v1).bullPrefix },
    );
    try {
      const payload = { userId: 'dup-1', email: 'dup@example.com', firstName: 'Dup', token: 'token-one-123' };
      expect(await before.enqueue('email/verify', payload)).toEqual({ jobId: 'email:verify:dup-1', duplicate: false });
      const queue = before.getQueue('email');
      await expect.poll(() => queue.getJobState('email:verify:dup-1'), { timeout: 10_000 }).toBe('failed');
      const stored = (await queue.getJob('email:verify:dup-1'))!.data as Record<string, string>;
      expect(stored.token).toBeUndefined();
      expect(stored.$sealed).toMatch(/^enc:v1:email,firstName,token:/);
      expect(stored[DIGEST_FIELD]).toMatch(/^v1:/);
      expect(JSON.stringify(stored)).not.toContain('token-one-123');

      const reordered = { token: 'token-one-123', firstName: 'Dup', email: 'dup@example.com', userId: 'dup-1' };
      expect(await before.enqueue('email/verify', reordered)).toEqual({ jobId: 'email:verify:dup-1', duplicate: true });
      // Written under v1, compared under "v2,v1": still the same payload.
      expect(await after.enqueue('email/verify', payload)).toEqual({ jobId: 'email:verify:dup-1', duplicate: true });
      expect(await after.enqueueBulk('email/verify', [payload])).toEqual([{ jobId: 'email:verify:dup-1', duplicate: true }]);
      expect(await after.enqueue('email/verify', { ...payload, token: 'token-two-456' })).toEqual({
        jobId: 'email:verify:dup-1',
        duplicate: false,
      });
    } finally {
      await worker.close();
      await connection.quit();
      await before.close();
      await after.close();
    }
  });
});
