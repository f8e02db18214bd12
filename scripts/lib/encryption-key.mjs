import { randomBytes } from 'node:crypto';
import { parseEnv } from 'node:util';

/** `v1:<32 random bytes, base64>`: the first entry of a local JOBS_ENCRYPTION_KEYS. */
export function localEncryptionKey() {
  return `v1:${randomBytes(32).toString('base64')}`;
}

/**
 * The text of a .env with a JOBS_ENCRYPTION_KEYS line added (or its empty value filled), or
 * `undefined` when it, or the shell's environment, already has one: an existing key is never touched.
 */
export function withEncryptionKey(text, shellEnv = process.env, key = localEncryptionKey()) {
  if (shellEnv.JOBS_ENCRYPTION_KEYS?.trim()) return undefined;
  if (parseEnv(text).JOBS_ENCRYPTION_KEYS?.trim()) return undefined;
  const line = `JOBS_ENCRYPTION_KEYS=${key}`;
  if (/^JOBS_ENCRYPTION_KEYS=.*$/m.test(text)) return text.replace(/^JOBS_ENCRYPTION_KEYS=.*$/m, line);
  return `${text.replace(/\n?$/, '\n')}# Added by npm start on ${new Date().toISOString()}: the local key of the jobs' personal fields.\n${line}\n`;
}
