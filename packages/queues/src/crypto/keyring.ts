import { hkdfSync } from 'node:crypto';
import { ConfigError } from '@ceres/app-kit';

/** The variable that holds the keyring. */
export const ENCRYPTION_KEYS_VARIABLE = 'JOBS_ENCRYPTION_KEYS';

export interface EncryptionKey {
  /** The label written beside each ciphertext, e.g. `v2`. */
  version: string;
  /** 32 bytes: AES-256-GCM. */
  key: Buffer;
  /** 32 bytes derived from {@link EncryptionKey.key}: the HMAC key of payload digests. */
  digestKey: Buffer;
}

/** The parsed `JOBS_ENCRYPTION_KEYS`: new jobs use `current`, any listed key decrypts. */
export interface Keyring {
  current: EncryptionKey;
  /** Every key by version, the current one included. */
  byVersion: ReadonlyMap<string, EncryptionKey>;
}

const VERSION = /^[A-Za-z0-9_-]{1,32}$/;

/**
 * Parses `v2:<base64>,v1:<base64>` (newest first; each key 32 bytes, base64 or base64url).
 * Throws a {@link ConfigError} naming the variable and the entry at fault, never echoing a key.
 */
export function parseKeyring(raw: string, variable = ENCRYPTION_KEYS_VARIABLE): Keyring {
  const entries = raw
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0)
    throw new ConfigError(variable, 'lists no key; expected "v1:<base64 of 32 random bytes>" (newest first, comma-separated)');
  const byVersion = new Map<string, EncryptionKey>();
  const keys: EncryptionKey[] = [];
  entries.forEach((entry, index) => {
    const colon = entry.indexOf(':');
    const where = `key #${index + 1}`;
    if (colon < 0) throw new ConfigError(variable, `${where} has no version; expected "<version>:<base64 key>", e.g. "v1:…"`);
    const version = entry.slice(0, colon);
    const encoded = entry.slice(colon + 1);
    if (!VERSION.test(version)) throw new ConfigError(variable, `${where}: the version must be 1-32 letters, digits, "_" or "-"`);
    if (byVersion.has(version)) throw new ConfigError(variable, `version "${version}" is listed twice`);
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) throw new ConfigError(variable, `key "${version}" is not base64`);
    const key = Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length !== 32) {
      throw new ConfigError(
        variable,
        `key "${version}" is ${key.length} bytes; AES-256 needs 32 (generate one with \`openssl rand -base64 32\`)`,
      );
    }
    const weakness = keyWeakness(key);
    if (weakness !== undefined) {
      throw new ConfigError(variable, `key "${version}" does not look random (${weakness}); generate one with \`openssl rand -base64 32\``);
    }
    const digestKey = Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), 'ceres-jobs payload digest', 32));
    const entryKey = { version, key, digestKey };
    byVersion.set(version, entryKey);
    keys.push(entryKey);
  });
  return { current: keys[0]!, byVersion };
}

/** Fewer distinct byte values than this in 32 bytes: a pattern (32 random bytes have ~30). */
const MIN_DISTINCT_KEY_BYTES = 16;

/**
 * Why 32 bytes are not a random key, as the other secrets are checked for strength: a pattern
 * (an all-zero key) or a typed passphrase. Random bytes trip neither rule in practice (all 32
 * printable: about 1 in 10^14).
 */
function keyWeakness(key: Buffer): string | undefined {
  if (new Set(key).size < MIN_DISTINCT_KEY_BYTES) return `fewer than ${MIN_DISTINCT_KEY_BYTES} distinct bytes`;
  if (key.every((byte) => byte >= 0x20 && byte <= 0x7e)) return 'only printable characters: a passphrase, not random bytes';
  return undefined;
}

/** The keyring of `JOBS_ENCRYPTION_KEYS`, or undefined when the variable is unset or empty. */
export function keyringFromEnv(env: Record<string, string | undefined>): Keyring | undefined {
  const raw = env[ENCRYPTION_KEYS_VARIABLE];
  if (raw === undefined || raw.trim() === '') return undefined;
  return parseKeyring(raw);
}

/** The error an app that must encrypt or decrypt raises at startup without a keyring. */
export function missingKeyringError(app: string): ConfigError {
  return new ConfigError(
    ENCRYPTION_KEYS_VARIABLE,
    `is required by the ${app}: it encrypts the personal fields of jobs; set e.g. "v1:$(openssl rand -base64 32)" (npm start writes one into .env)`,
  );
}
