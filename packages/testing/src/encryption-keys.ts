import { randomBytes } from 'node:crypto';

/** A fresh `JOBS_ENCRYPTION_KEYS` entry: `<version>:<base64 of 32 random bytes>`. */
export const testEncryptionKey = (version: string) => `${version}:${randomBytes(32).toString('base64')}`;

/** A keyring for the tests of one file (random per process, never a fixed key in the repo). */
export const TEST_ENCRYPTION_KEYS = testEncryptionKey('test1');
