import { SlackHttpError } from '../deps/slack';
import { MailOutcomeUnknownError } from '../mail/unknown-outcome';

/**
 * What a failed attempt says about the dependency it used: `down` (no answer: connection refused
 * or reset, a timeout, a TLS failure, the socket closed before a reply, a Slack 5xx), `answered`
 * (the relay or webhook replied: an SMTP 4xx/5xx about this mail, a throttling answer, a Slack
 * 4xx), `unknown` (nothing about the dependency: a database error, a deadline that cut a send
 * whose outcome is unknown, a bug). Only `down` counts toward opening a breaker.
 */
export type DependencyOutcome = 'down' | 'answered' | 'unknown';

/** nodemailer's codes for a connection that failed or broke, and Node's socket and DNS errors. */
const TRANSPORT_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'ETLS',
  'EDNS',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const isTls = (code: string) => code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'EPROTO';

/** Reads `error` and its causes (as a processor may wrap a dep's error), nearest first. */
export function dependencyOutcome(error: unknown): DependencyOutcome {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    // The deadline cut a send the relay may have taken: says nothing either way.
    if (current instanceof MailOutcomeUnknownError) return 'unknown';
    if (current instanceof SlackHttpError) return current.status >= 500 ? 'down' : 'answered';
    const { responseCode, code } = current as { responseCode?: unknown; code?: unknown };
    // An SMTP reply, whatever it says, is the relay answering.
    if (typeof responseCode === 'number' && responseCode > 0) return 'answered';
    if (typeof code === 'string' && (TRANSPORT_CODES.has(code) || isTls(code))) return 'down';
    // AbortSignal.timeout's reason: the webhook call (or a connection) took longer than its timeout.
    if (current.name === 'TimeoutError') return 'down';
  }
  return 'unknown';
}
