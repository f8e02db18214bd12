/*
 * Job payloads and errors hold personal data (addresses, names, verification tokens). The CLI's
 * output goes to terminals, cron mails and CI logs, so it never prints them: payload fields whose
 * name says they are personal are masked, and e-mail addresses are masked in any text.
 */

const PERSONAL_FIELD = /e-?mail|token|name|phone|address|password|secret|birth/i;
const EMAIL = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;

export const MASK = '[masked]';

export function maskText(text: string): string {
  return text.replace(EMAIL, '[email]');
}

/** A copy of a payload with its personal fields masked, however deep. */
export function maskData(value: unknown): unknown {
  if (typeof value === 'string') return maskText(value);
  if (Array.isArray(value)) return value.map(maskData);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, field]) => [
        key,
        PERSONAL_FIELD.test(key) && field !== null && field !== undefined ? MASK : maskData(field),
      ]),
    );
  }
  return value;
}
