import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto';
import type { JobDefinition } from '../jobs/define';
import { ENCRYPTION_KEYS_VARIABLE, type Keyring } from './keyring';

/**
 * Field-level encryption of the personal fields a job definition declares (`personal`). Each
 * field's value becomes `enc:<key version>:<base64url(iv ‖ tag ‖ ciphertext)>` (AES-256-GCM, a
 * random 12-byte IV), authenticated with the job type and field name so a ciphertext cannot be
 * moved to another field or job type. The other fields (ids, file keys) stay as they are: job ids
 * and erasure match on them.
 */
export const ENCRYPTED_PREFIX = 'enc:';

/**
 * The field holding the keyed digest of the plaintext payload, for job types whose duplicate window
 * compares payloads (`pending-or-same-payload`): ciphertexts never repeat, digests do.
 */
export const DIGEST_FIELD = '$digest';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A personal field could not be decrypted; the message names the field and key version, never the data. */
export class PayloadDecryptionError extends Error {
  override name = 'PayloadDecryptionError';
  constructor(
    readonly field: string,
    readonly version: string | undefined,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export function isEncrypted(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(ENCRYPTED_PREFIX);
}

/** The key version an encrypted value was written with (`enc:v1:…` → `v1`). */
export function encryptedVersion(value: string): string | undefined {
  const end = value.indexOf(':', ENCRYPTED_PREFIX.length);
  return end < 0 ? undefined : value.slice(ENCRYPTED_PREFIX.length, end);
}

/**
 * Random IVs drawn from a pool refilled 256 at a time: one `randomBytes(12)` per field cost more
 * than the encryption itself (a call into the system's CSPRNG each time). Each IV is used once.
 */
const IV_POOL = Buffer.alloc(IV_BYTES * 256);
let ivOffset = IV_POOL.length;
function nextIv(): Buffer {
  if (ivOffset === IV_POOL.length) {
    randomFillSync(IV_POOL);
    ivOffset = 0;
  }
  // A copy: the pool is overwritten on refill.
  const iv = Buffer.from(IV_POOL.subarray(ivOffset, ivOffset + IV_BYTES));
  ivOffset += IV_BYTES;
  return iv;
}

const aad = (type: string, field: string) => Buffer.from(`${type}.${field}`);

export function encryptField(keyring: Keyring, type: string, field: string, value: string): string {
  const { version, key } = keyring.current;
  const iv = nextIv();
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(type, field));
  const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return `${ENCRYPTED_PREFIX}${version}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

export function decryptField(keyring: Keyring, type: string, field: string, value: string): string {
  const version = encryptedVersion(value);
  if (version === undefined) throw new PayloadDecryptionError(field, undefined, 'malformed encrypted value (no key version)');
  const entry = keyring.byVersion.get(version);
  if (!entry) {
    throw new PayloadDecryptionError(
      field,
      version,
      `encrypted with key "${version}", which ${ENCRYPTION_KEYS_VARIABLE} does not list (listed: ${[...keyring.byVersion.keys()].join(', ')})`,
    );
  }
  const raw = Buffer.from(value.slice(ENCRYPTED_PREFIX.length + version.length + 1), 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(field, version, 'malformed encrypted value (too short)');
  try {
    const decipher = createDecipheriv('aes-256-gcm', entry.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(aad(type, field));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    throw new PayloadDecryptionError(field, version, `does not decrypt with key "${version}" (wrong key, or the value was altered)`);
  }
}

/** The personal fields of a job type, as its definition declares them. */
export function personalFields(definition: JobDefinition): readonly string[] {
  return (definition.personal ?? []) as readonly string[];
}

/** Keys sorted, so a payload's digest does not depend on the order its fields were written in. */
function canonical(payload: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(payload).sort().map((key) => [key, payload[key]]));
}

/** `version:digest` of the plaintext payload with every key of the ring, the current one first. */
export function payloadDigests(keyring: Keyring, type: string, payload: Record<string, unknown>): string[] {
  const text = `${type}\n${canonical(payload)}`;
  return [...keyring.byVersion.values()].map(({ version, digestKey }) => `${version}:${createHmac('sha256', digestKey).update(text).digest('base64url')}`);
}

/**
 * The payload as it is stored in Redis: personal fields encrypted with the current key and, when
 * `digest` is given, {@link DIGEST_FIELD} set to it.
 */
export function encryptPayload(keyring: Keyring, type: string, fields: readonly string[], payload: Record<string, unknown>, digest?: string): Record<string, unknown> {
  const stored: Record<string, unknown> = { ...payload };
  for (const field of fields) {
    const value = stored[field];
    if (typeof value === 'string') stored[field] = encryptField(keyring, type, field, value);
  }
  if (digest !== undefined) stored[DIGEST_FIELD] = digest;
  return stored;
}

/**
 * The plaintext payload of a stored job: personal fields decrypted, the digest dropped. A value
 * that is not encrypted (a job written before encryption) is passed through as it is.
 */
export function decryptPayload(keyring: Keyring | undefined, type: string, fields: readonly string[], stored: unknown): unknown {
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return stored;
  const source = stored as Record<string, unknown>;
  if (fields.length === 0 && !(DIGEST_FIELD in source)) return stored;
  const plain: Record<string, unknown> = { ...source };
  delete plain[DIGEST_FIELD];
  for (const field of fields) {
    const value = plain[field];
    if (!isEncrypted(value)) continue;
    if (!keyring) throw new PayloadDecryptionError(field, encryptedVersion(value), `is encrypted but ${ENCRYPTION_KEYS_VARIABLE} is not set`);
    plain[field] = decryptField(keyring, type, field, value);
  }
  return plain;
}

/** A payload ready for Redis: its stored form and, for payload-comparing windows, its digests under every key. */
export interface SealedPayload {
  data: unknown;
  digests?: string[];
}

/**
 * Encrypts the personal fields of `type`'s payload; job types without any pass through untouched.
 * `compare`: the job type's window compares payloads, so a keyed digest is stored beside them.
 */
export function sealPayload(keyring: Keyring, type: string, fields: readonly string[], payload: unknown, compare: boolean): SealedPayload {
  if (fields.length === 0) return { data: payload };
  const plain = payload as Record<string, unknown>;
  const digests = compare ? payloadDigests(keyring, type, plain) : undefined;
  return { data: encryptPayload(keyring, type, fields, plain, digests?.[0]), digests };
}
