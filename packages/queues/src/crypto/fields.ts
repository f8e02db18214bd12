import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto';
import type { JobDefinition } from '../jobs/define';
import { findJobDefinition } from '../registry';
import { TENANT_FIELD } from '../tenant';
import { ENCRYPTION_KEYS_VARIABLE, type Keyring } from './keyring';

/**
 * Encryption of the personal fields a job definition declares (`personal`), AES-256-GCM with a
 * random 12-byte IV. A payload is sealed with ONE cipher operation for all its personal fields
 * (one `createCipheriv` is most of the cost, and three per job showed in every benchmark): they
 * leave the payload and travel together in {@link SEALED_FIELD} as
 * `enc:<key version>:<field,field,…>:<base64url(iv ‖ tag ‖ ciphertext of the JSON array of values)>`.
 * The authenticated data binds the job type, the field names and the job's identity (its key
 * fields' values): a sealed value copied into another user's job, field or job type does not open.
 * The other fields (ids, file keys) stay as they are: job ids and erasure match on them.
 *
 * Jobs written before (each field its own `enc:<version>:<…>`) still open.
 */
export const ENCRYPTED_PREFIX = 'enc:';

/**
 * The field holding the keyed digest of the plaintext payload, for job types whose duplicate window
 * compares payloads (`pending-or-same-payload`): ciphertexts never repeat, digests do.
 */
export const DIGEST_FIELD = '$digest';

/** The field holding a sealed payload's personal fields, encrypted together. */
export const SEALED_FIELD = '$sealed';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A personal field could not be decrypted; the message names the field and key version, never the data. */
export class PayloadDecryptionError extends Error {
  override name = 'PayloadDecryptionError';
  constructor(
    readonly field: string,
    readonly version: string | undefined,
    reason: string,
    /**
     * `unknown-key`: written with a key this process does not list (yet: during a rotation another
     * process may have the new key first), so a later attempt may open it; `invalid`: it never will.
     */
    readonly kind: 'unknown-key' | 'invalid' = 'invalid',
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

function keyOf(keyring: Keyring, field: string, version: string) {
  const entry = keyring.byVersion.get(version);
  if (entry) return entry;
  throw new PayloadDecryptionError(
    field,
    version,
    `encrypted with key "${version}", which ${ENCRYPTION_KEYS_VARIABLE} does not list (listed: ${[...keyring.byVersion.keys()].join(', ')})`,
    'unknown-key',
  );
}

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
  const entry = keyOf(keyring, field, version);
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
  return JSON.stringify(
    Object.keys(payload)
      .sort()
      .map((key) => [key, payload[key]]),
  );
}

/** `version:digest` of the plaintext payload with every key of the ring, the current one first. */
export function payloadDigests(keyring: Keyring, type: string, payload: Record<string, unknown>): string[] {
  const text = `${type}\n${canonical(payload)}`;
  return [...keyring.byVersion.values()].map(
    ({ version, digestKey }) => `${version}:${createHmac('sha256', digestKey).update(text).digest('base64url')}`,
  );
}

/** The values a job's identity is made of (its key fields'), bound into the sealed payload's authenticated data. */
function identityOf(definition: JobDefinition | undefined, payload: Record<string, unknown>): string {
  const keys = definition?.keyFields ?? (definition?.keyField ? [definition.keyField] : []);
  return JSON.stringify(keys.map((key) => payload[key] ?? null));
}

const sealAad = (type: string, names: string, identity: string) => Buffer.from(`${type}\n${names}\n${identity}`);

/**
 * The payload as it is stored in Redis: the personal fields that are strings taken out and sealed
 * together into {@link SEALED_FIELD} with the current key and, when `digest` is given,
 * {@link DIGEST_FIELD} set to it.
 */
export function encryptPayload(
  keyring: Keyring,
  type: string,
  definition: JobDefinition,
  payload: Record<string, unknown>,
  digest?: string,
): Record<string, unknown> {
  const stored: Record<string, unknown> = { ...payload };
  const names: string[] = [];
  const values: string[] = [];
  for (const field of personalFields(definition)) {
    const value = stored[field];
    if (typeof value !== 'string') continue;
    names.push(field);
    values.push(value);
    delete stored[field];
  }
  if (names.length > 0) {
    const { version, key } = keyring.current;
    const list = names.join(',');
    const iv = nextIv();
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(sealAad(type, list, identityOf(definition, payload)));
    const body = Buffer.concat([cipher.update(JSON.stringify(values), 'utf8'), cipher.final()]);
    stored[SEALED_FIELD] = `${ENCRYPTED_PREFIX}${version}:${list}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }
  if (digest !== undefined) stored[DIGEST_FIELD] = digest;
  return stored;
}

/** The field names a sealed value holds (`enc:v1:email,firstName:…` → `['email', 'firstName']`), shown by the maskers. */
export function sealedFieldNames(value: string): string[] {
  const parts = value.split(':', 4);
  return parts.length === 4 && parts[2] !== '' ? parts[2]!.split(',') : [];
}

function openSealed(
  keyring: Keyring | undefined,
  type: string,
  definition: JobDefinition | undefined,
  plain: Record<string, unknown>,
  value: unknown,
): void {
  if (typeof value !== 'string' || !isEncrypted(value)) throw new PayloadDecryptionError(SEALED_FIELD, undefined, 'malformed sealed value');
  const version = encryptedVersion(value);
  if (version === undefined) throw new PayloadDecryptionError(SEALED_FIELD, undefined, 'malformed sealed value (no key version)');
  if (!keyring) throw new PayloadDecryptionError(SEALED_FIELD, version, `is encrypted but ${ENCRYPTION_KEYS_VARIABLE} is not set`);
  const entry = keyOf(keyring, SEALED_FIELD, version);
  const listStart = ENCRYPTED_PREFIX.length + version.length + 1;
  const listEnd = value.indexOf(':', listStart);
  if (listEnd < 0) throw new PayloadDecryptionError(SEALED_FIELD, version, 'malformed sealed value (no field list)');
  const list = value.slice(listStart, listEnd);
  const raw = Buffer.from(value.slice(listEnd + 1), 'base64url');
  if (raw.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(SEALED_FIELD, version, 'malformed sealed value (too short)');
  let values: unknown;
  try {
    const decipher = createDecipheriv('aes-256-gcm', entry.key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(sealAad(type, list, identityOf(definition, plain)));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    values = JSON.parse(decipher.update(raw.subarray(IV_BYTES + TAG_BYTES), undefined, 'utf8') + decipher.final('utf8'));
  } catch {
    throw new PayloadDecryptionError(
      SEALED_FIELD,
      version,
      `does not open with key "${version}" (wrong key, another job's value, or altered)`,
    );
  }
  const names = list.split(',');
  if (!Array.isArray(values) || values.length !== names.length)
    throw new PayloadDecryptionError(SEALED_FIELD, version, 'malformed sealed value (field count)');
  names.forEach((name, index) => (plain[name] = values[index]));
}

/**
 * The plaintext payload of a stored job: personal fields opened, the digest dropped. A payload
 * written before encryption is passed through as it is; one written field by field is opened
 * field by field.
 */
export function openPayload(keyring: Keyring | undefined, type: string, definition: JobDefinition | undefined, stored: unknown): unknown {
  return decryptFields(keyring, type, definition, definition ? personalFields(definition) : [], stored);
}

/** As {@link openPayload}, the legacy per-field values of `fields` opened (the definition found by `type`). */
export function decryptPayload(keyring: Keyring | undefined, type: string, fields: readonly string[], stored: unknown): unknown {
  const slash = type.indexOf('/');
  return decryptFields(keyring, type, findJobDefinition(type.slice(0, slash), type.slice(slash + 1)), fields, stored);
}

function decryptFields(
  keyring: Keyring | undefined,
  type: string,
  definition: JobDefinition | undefined,
  fields: readonly string[],
  stored: unknown,
): unknown {
  if (stored === null || typeof stored !== 'object' || Array.isArray(stored)) return stored;
  const source = stored as Record<string, unknown>;
  const sealed = source[SEALED_FIELD];
  if (sealed === undefined && fields.length === 0 && !(DIGEST_FIELD in source) && !(TENANT_FIELD in source)) return stored;
  const plain: Record<string, unknown> = { ...source };
  delete plain[DIGEST_FIELD];
  // The tenant is the job's, not the payload's (tenantOfData reads it from the stored data).
  delete plain[TENANT_FIELD];
  if (sealed !== undefined) {
    delete plain[SEALED_FIELD];
    openSealed(keyring, type, definition, plain, sealed);
  }
  for (const field of fields) {
    const value = plain[field];
    if (!isEncrypted(value)) continue;
    if (!keyring)
      throw new PayloadDecryptionError(field, encryptedVersion(value), `is encrypted but ${ENCRYPTION_KEYS_VARIABLE} is not set`);
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
 * Seals the personal fields of `type`'s payload; job types without any pass through untouched.
 * `compare`: the job type's window compares payloads, so a keyed digest is stored beside them.
 */
export function sealPayload(keyring: Keyring, type: string, definition: JobDefinition, payload: unknown, compare: boolean): SealedPayload {
  if (personalFields(definition).length === 0) return { data: payload };
  const plain = payload as Record<string, unknown>;
  const digests = compare ? payloadDigests(keyring, type, plain) : undefined;
  return { data: encryptPayload(keyring, type, definition, plain, digests?.[0]), digests };
}
