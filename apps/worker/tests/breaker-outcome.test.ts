import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { dependencyOutcome } from '../src/breakers/outcome';
import { laneOf } from '../src/breakers/lanes';
import { SlackHttpError } from '../src/deps/slack';
import { MailOutcomeUnknownError } from '../src/mail/unknown-outcome';
import { ThrottledError } from '../src/throttled-error';

/** The shapes nodemailer gives its errors: a code, and a responseCode when the server answered. */
const smtpError = (fields: { code?: string; responseCode?: number; command?: string }) => Object.assign(new Error('smtp'), fields);
/** As the mailer wraps them (deps/mailer.ts classifyMailError). */
const transient = (cause: Error) => Object.assign(new Error('transient SMTP error: …', { cause }), { responseCode: undefined });

describe('dependencyOutcome', () => {
  it('a connection refused, reset, timed out, a TLS failure or a socket closed before a reply: down', () => {
    for (const code of [
      'ECONNECTION',
      'ESOCKET',
      'ETIMEDOUT',
      'ETLS',
      'ECONNREFUSED',
      'ECONNRESET',
      'EPIPE',
      'ERR_TLS_CERT_ALTNAME_INVALID',
      'CERT_HAS_EXPIRED',
    ]) {
      expect(dependencyOutcome(transient(smtpError({ code })))).toBe('down');
    }
    const timeout = new DOMException('The operation was aborted due to timeout', 'TimeoutError');
    expect(dependencyOutcome(timeout)).toBe('down');
  });

  it("a recipient's 5xx, a 4xx, a throttling answer: the relay answered", () => {
    const refused = new UnrecoverableError('permanent SMTP 550: …');
    refused.cause = smtpError({ code: 'EENVELOPE', responseCode: 550, command: 'RCPT TO' });
    expect(dependencyOutcome(refused)).toBe('answered');
    expect(dependencyOutcome(transient(smtpError({ code: 'EENVELOPE', responseCode: 451 })))).toBe('answered');
    expect(
      dependencyOutcome(new ThrottledError(1000, 'throttled SMTP 421', { cause: smtpError({ code: 'EPROTOCOL', responseCode: 421 }) })),
    ).toBe('answered');
  });

  it("Slack's 5xx is the webhook failing (down); its 4xx an answer", () => {
    expect(dependencyOutcome(new SlackHttpError(503))).toBe('down');
    expect(dependencyOutcome(new Error('wrapped', { cause: new SlackHttpError(500) }))).toBe('down');
    expect(dependencyOutcome(new SlackHttpError(404))).toBe('answered');
  });

  it('a send cut by the deadline, a database error, a bug: says nothing about the dependency', () => {
    expect(dependencyOutcome(new MailOutcomeUnknownError('<id@x>', { cause: smtpError({ code: 'ECONNECTION' }) }))).toBe('unknown');
    expect(dependencyOutcome(Object.assign(new Error('relation does not exist'), { code: '42P01' }))).toBe('unknown');
    expect(dependencyOutcome(new TypeError('x is undefined'))).toBe('unknown');
    expect(dependencyOutcome('not an error')).toBe('unknown');
  });
});

describe('laneOf', () => {
  it('mails and newsletter sends wait for the relay, Slack jobs for the webhook, the rest for nothing', () => {
    expect(laneOf('email', 'verify')).toBe('mailer');
    expect(laneOf('newsletter', 'send')).toBe('mailer');
    expect(laneOf('newsletter', 'fan-out')).toBeUndefined();
    expect(laneOf('slack', 'alert')).toBe('slack');
    expect(laneOf('maintenance', 'daily-report')).toBeUndefined();
    expect(laneOf('files', 'validate-cv')).toBeUndefined();
  });
});
