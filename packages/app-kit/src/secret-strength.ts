import { ConfigError } from './config-error';

/** The shortest password or token an app accepts at startup. */
export const MIN_SECRET_LENGTH = 16;
/** Fewer distinct characters than this (`aaaaaaaaaaaaaaaa`, `1212121212121212`) is guessable whatever the length. */
export const MIN_SECRET_DISTINCT_CHARS = 6;

/** Why `secret` is too weak, or undefined when it is strong enough. */
export function secretWeakness(secret: string): string | undefined {
  if (secret.length < MIN_SECRET_LENGTH) return `is shorter than ${MIN_SECRET_LENGTH} characters`;
  if (new Set(secret).size < MIN_SECRET_DISTINCT_CHARS) return `has fewer than ${MIN_SECRET_DISTINCT_CHARS} distinct characters`;
  return undefined;
}

/** Throws a {@link ConfigError} naming `variable` when `secret` is too weak; never shows the secret. */
export function assertStrongSecret(variable: string, secret: string, label = 'the value'): void {
  const weakness = secretWeakness(secret);
  if (weakness !== undefined) {
    throw new ConfigError(variable, `${label} ${weakness}; use a random secret, e.g. \`openssl rand -base64 24\``);
  }
}

/**
 * A comma-separated list of secrets, newest first (so one can be rotated without voiding what the
 * older ones signed): each entry trimmed and checked like {@link assertStrongSecret}, the error
 * naming the entry's position in a list of several, never the secret.
 */
export function parseSecretList(variable: string, raw: string): [string, ...string[]] {
  const secrets = raw
    .split(',')
    .map((secret) => secret.trim())
    .filter((secret) => secret !== '');
  if (secrets.length === 0) throw new ConfigError(variable, 'set at least one secret (comma-separated, newest first)');
  secrets.forEach((secret, i) => assertStrongSecret(variable, secret, secrets.length === 1 ? 'the value' : `secret #${i + 1}`));
  return secrets as [string, ...string[]];
}
