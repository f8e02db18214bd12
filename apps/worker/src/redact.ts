const EMAIL = /[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;

/** Error texts (SMTP answers especially) often quote the address; logs and alerts must not. */
export function redactEmails(text: string): string {
  return text.replace(EMAIL, '[email]');
}

/** A log-safe summary of an error: name and redacted message, no payload. */
export function errorSummary(error: unknown): { name: string; message: string } {
  const err = error instanceof Error ? error : new Error(String(error));
  return { name: err.name, message: redactEmails(err.message).slice(0, 1000) };
}
