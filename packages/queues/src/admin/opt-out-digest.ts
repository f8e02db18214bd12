import { payloadDigests } from '../crypto/fields';
import type { Keyring } from '../crypto/keyring';

/**
 * The keyed digests an erased newsletter opt-out keeps instead of its address, one per key of the
 * ring, the current one first (`erased:<version>:<HMAC-SHA-256>`, the keyring's payload digests):
 * nobody without JOBS_ENCRYPTION_KEYS can test a dictionary of addresses against them (an unsalted
 * SHA-256 could be), and the worker still recognises the same address (any case) coming back,
 * under any key still listed.
 */
export function optOutAddressDigests(keyring: Keyring, email: string): string[] {
  return payloadDigests(keyring, 'newsletter/opt-out', { email: email.toLowerCase() }).map((digest) => `erased:${digest}`);
}
