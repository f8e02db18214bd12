import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { decryptField, encryptField } from './fields';
import type { EncryptionKey, Keyring } from './keyring';

/** A tenant's secret settings, sealed in PostgreSQL with the jobs keyring. */
export type TenantSecret = 'smtpUrl' | 'slackWebhookUrl';

/** Seals a tenant's secret setting; bound to the tenant and the setting (a sealed value moved to another row does not open). */
export function sealTenantSecret(keyring: Keyring, tenant: string, secret: TenantSecret, value: string): string {
  return encryptField(keyring, `tenant:${tenant}`, secret, value);
}

/** Opens what {@link sealTenantSecret} sealed; throws a PayloadDecryptionError naming the setting. */
export function openTenantSecret(keyring: Keyring, tenant: string, secret: TenantSecret, sealed: string): string {
  return decryptField(keyring, `tenant:${tenant}`, secret, sealed);
}

const tokenKeys = new WeakMap<EncryptionKey, Buffer>();

/** The HMAC key of API tokens, derived from a keyring key (never the key itself). */
function tokenKey(key: EncryptionKey): Buffer {
  let derived = tokenKeys.get(key);
  if (!derived) tokenKeys.set(key, (derived = Buffer.from(hkdfSync('sha256', key.key, Buffer.alloc(0), 'ceres-jobs api token', 32))));
  return derived;
}

/** What PostgreSQL keeps of an API token: its HMAC-SHA256 (hex) under a key derived from keyring key `key`. */
export function apiTokenHash(key: EncryptionKey, token: string): string {
  return createHmac('sha256', tokenKey(key)).update(token, 'utf8').digest('hex');
}

/** A new API token: 32 random bytes, base64url, with a `cjt_` prefix that secret scanners can match. */
export function newApiToken(): string {
  return `cjt_${randomBytes(32).toString('base64url')}`;
}

/** Constant-time comparison of two hex hashes of equal length. */
export function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
