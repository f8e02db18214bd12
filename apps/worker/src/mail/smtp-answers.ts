/**
 * What an SMTP error says about who should wait: the relay (back-pressure for every mail), this
 * mail alone (its own retry schedule), or nobody (a refusal for good). Read from nodemailer's
 * error fields: `responseCode`, `response` (the server's line) and `command` (what it answered).
 */

/** SMTP codes 5xx refuse for good; EENVELOPE/EMESSAGE say the server answered this mail so. */
export function isPermanentMailError(error: unknown): boolean {
  const { responseCode, code } = (error ?? {}) as { responseCode?: unknown; code?: unknown };
  return typeof responseCode === 'number' && responseCode >= 500 && responseCode < 600 && code !== 'EAUTH';
}

/**
 * The relay asks every sender to slow down rather than refusing this mail: 421 (service not
 * available, closing the channel: "too many connections", "try again later") at any stage, and
 * 450/451 whose enhanced code is 4.7.x (RFC 3463: security or policy status, as providers' rate
 * limits answer, e.g. `451 4.7.1 Rate limit exceeded`) **unless it answers RCPT TO**: an answer to
 * RCPT TO is about that recipient (RFC 5321 §3.3), e.g. Postfix's `450 4.7.1 <addr>: Recipient
 * address rejected`, and pausing everyone for it would hold every other mail behind one address.
 * A plain `451` (local error, greylisting) stays an ordinary transient failure.
 */
export function isThrottlingMailError(error: unknown): boolean {
  const { responseCode, response, command } = (error ?? {}) as { responseCode?: unknown; response?: unknown; command?: unknown };
  if (responseCode === 421) return true;
  if (responseCode !== 450 && responseCode !== 451) return false;
  if (command === 'RCPT TO') return false;
  return typeof response === 'string' && /^\d{3}[ -]4\.7\.\d{1,3}\b/.test(response);
}
