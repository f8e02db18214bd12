/** An address anywhere in a text (SMTP answers quote them, often in `<…>`). */
const EMAIL_IN_TEXT = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)/g;

/** `juan.reject@example.com` → `j***@example.com`: enough for an operator to tell addresses apart, not to write to one. */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${address[0]}***${address.slice(at)}`;
}

/** Every address in `text` masked with {@link maskEmail}. */
export function maskEmails(text: string): string {
  return text.replace(EMAIL_IN_TEXT, (address) => maskEmail(address));
}
