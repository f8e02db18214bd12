import { DIGEST_FIELD, isEncrypted, SEALED_FIELD, sealedFieldNames } from '@ceres/queues';

/*
 * Job payloads and errors hold personal data (addresses, names, verification tokens). The CLI's
 * output goes to terminals, cron mails and CI logs, so it never prints them: payload fields whose
 * name says they are personal, or whose value is encrypted, are masked, and e-mail addresses are
 * masked in any text. The payload's duplicate digest (`$digest`) is internal and left out, as in
 * Bull Board.
 */

const PERSONAL_FIELD = /e-?mail|token|name|phone|address|password|secret|birth/i;
const EMAIL = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;

export const MASK = '[masked]';

export function maskText(text: string): string {
  return text.replace(EMAIL, '[email]');
}

/** A copy of a payload with its personal fields masked, however deep. */
export function maskData(value: unknown): unknown {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && (DIGEST_FIELD in value || SEALED_FIELD in value)) {
    const { [DIGEST_FIELD]: _digest, [SEALED_FIELD]: sealed, ...rest } = value as Record<string, unknown>;
    // The personal fields sealed together show one by one, masked.
    const opened = isEncrypted(sealed) ? Object.fromEntries(sealedFieldNames(sealed).map((name) => [name, MASK])) : {};
    return { ...(maskDeep(rest) as object), ...opened };
  }
  return maskDeep(value);
}

function maskDeep(value: unknown): unknown {
  if (isEncrypted(value)) return MASK;
  if (typeof value === 'string') return maskText(value);
  if (Array.isArray(value)) return value.map(maskDeep);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, field]) => [
        key,
        PERSONAL_FIELD.test(key) && field !== null && field !== undefined ? MASK : maskDeep(field),
      ]),
    );
  }
  return value;
}
