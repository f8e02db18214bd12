import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { UnrecoverableError } from 'bullmq';
import nodemailer, { type Transporter } from 'nodemailer';
import { activeTracing, maskEmails } from '@ceres/app-kit';
import { isPermanentMailError, isThrottlingMailError } from '../mail/smtp-answers';
import { MailOutcomeUnknownError } from '../mail/unknown-outcome';
import { ThrottledError } from '../throttled-error';

export { isPermanentMailError, isThrottlingMailError };

export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  /** @defaultValue text only */
  html?: string;
  /** Extra header fields (e.g. `List-Unsubscribe`); values must be single-line. */
  headers?: Record<string, string>;
  /** The Message-ID, from {@link Mailer.newMessageId} (a send recorded before it happens). @defaultValue a new one */
  messageId?: string;
}

export interface SentMail {
  messageId: string;
  /** Where the mail went: `smtp` or the `.eml` file written. */
  delivery: string;
}

export interface Mailer {
  /**
   * Sends one mail. A permanent refusal (SMTP 5xx: unknown mailbox, rejected address) throws
   * BullMQ's `UnrecoverableError`, so the job fails at once; a throttling answer of the relay (421,
   * or 450/451 with an enhanced code 4.7.x not answering RCPT TO: `mail/smtp-answers.ts`) throws a {@link ThrottledError} (the queue pauses, no attempt is
   * used); anything else (other 4xx, connection errors, timeouts) throws a plain error and the
   * job is retried on the schedule. `signal` (the attempt's deadline) closes the SMTP connection
   * of this mail when it aborts: the send then throws a {@link MailOutcomeUnknownError} (the relay
   * may already have the mail), or the signal's reason if it was aborted before the send began.
   */
  send(message: MailMessage, options?: { signal?: AbortSignal }): Promise<SentMail>;
  /** A Message-ID for a mail of this sender (`<uuid@domain of MAIL_FROM>`). */
  newMessageId(): string;
  /**
   * Whether a mail with this Message-ID was delivered, when the mailer can tell (the outbox can:
   * it looks for the file); undefined when it cannot (SMTP: only the relay knows).
   */
  delivered(messageId: string): Promise<boolean | undefined>;
  /** `smtp://host:port (pooled)` or `outbox <dir>`, for the startup log; never the password. */
  readonly description: string;
  /** The circuit breaker of its relay (`smtp`, `smtp:<tenant>`); undefined for the outbox, which has none. */
  readonly dependency?: string;
  close(): void;
}

export interface MailerOptions {
  /** `undefined`: write `.eml` files to `outboxDir` instead of sending. */
  smtpUrl: string | undefined;
  outboxDir: string;
  from: string;
  /**
   * How long the queue pauses after a throttling answer (SMTP gives no retry-after).
   * @defaultValue 30 000 ms (`SMTP_THROTTLE_PAUSE_MS`)
   */
  throttlePauseMs?: number;
  /** The name of its relay's circuit breaker (see {@link Mailer.dependency}). @defaultValue `smtp` */
  dependency?: string;
}

/** Defaults for the pooled transport, unless the URL sets them (`?socketTimeout=…`). */
const SMTP_DEFAULTS: Record<string, string> = {
  pool: 'true',
  maxConnections: '5',
  connectionTimeout: '10000',
  greetingTimeout: '10000',
  socketTimeout: '30000',
};

export function createMailer(options: MailerOptions): Mailer {
  const newMessageId = () => `<${randomUUID()}@${domainOf(options.from)}>`;
  if (!options.smtpUrl) return createOutboxMailer(options.outboxDir, options.from, newMessageId);
  const url = new URL(options.smtpUrl);
  for (const [name, value] of Object.entries(SMTP_DEFAULTS)) {
    if (!url.searchParams.has(name)) url.searchParams.set(name, value);
  }
  const transport: Transporter = nodemailer.createTransport(url.toString());
  // The relay, never the recipient: what the SMTP span says about the send.
  const relay = { 'server.address': url.hostname, 'server.port': Number(url.port || (url.protocol === 'smtps:' ? 465 : 587)) };
  const send: Mailer['send'] = async (message, { signal } = {}) => {
    signal?.throwIfAborted();
    // Chosen before sending so that a send cut by the deadline still names the mail it may have delivered.
    const messageId = message.messageId ?? newMessageId();
    try {
      // nodemailer closes the connection of this one mail when the signal aborts.
      const info = await transport.sendMail({ from: options.from, ...message, messageId, signal });
      return { messageId: String(info.messageId), delivery: 'smtp' };
    } catch (error) {
      if (signal?.aborted) throw new MailOutcomeUnknownError(messageId, { cause: error });
      throw classifyMailError(error, options.throttlePauseMs ?? 30_000);
    }
  };
  return {
    description: `${url.protocol}//${url.host} (pooled)`,
    dependency: options.dependency ?? 'smtp',
    newMessageId,
    delivered: async () => undefined,
    send(message, sendOptions) {
      const tracing = activeTracing();
      if (!tracing) return send(message, sendOptions);
      return tracing.inSpan('smtp send', 'client', relay, async (span) => {
        try {
          return await send(message, sendOptions);
        } catch (error) {
          // The relay's answer: on the error (transient) or its cause (permanent, throttled).
          const { responseCode, cause } = error as { responseCode?: number; cause?: { responseCode?: number } };
          const code = responseCode ?? cause?.responseCode;
          if (typeof code === 'number') span.setAttribute('smtp.response.code', code);
          span.fail(error);
          throw error;
        }
      });
    },
    close: () => transport.close(),
  };
}

function domainOf(from: string): string {
  const address = /<([^<>]+)>\s*$/.exec(from)?.[1] ?? from;
  return /@([^@\s>]+)$/.exec(address.trim())?.[1] ?? 'localhost';
}

function classifyMailError(error: unknown, throttlePauseMs: number): Error {
  const cause = error instanceof Error ? error : new Error(String(error));
  const { responseCode } = error as { responseCode?: number };
  // Masked at the source: this text becomes the job's failedReason (Bull Board, the status route,
  // failed_jobs, Slack), all of which must not carry the recipient.
  const message = `SMTP ${responseCode ?? 'error'}: ${maskEmails(cause.message)}`;
  if (isThrottlingMailError(error)) return new ThrottledError(throttlePauseMs, `throttled ${message}`, { cause });
  if (isPermanentMailError(error)) {
    const permanent = new UnrecoverableError(`permanent ${message}`);
    permanent.cause = cause;
    return permanent;
  }
  return Object.assign(new Error(`transient ${message}`, { cause }), { responseCode });
}

/** Local development without a mail relay: each mail becomes an `.eml` file you can open. */
function createOutboxMailer(outboxDir: string, from: string, newMessageId: () => string): Mailer {
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  // The file name ends with a digest of the Message-ID, so that `delivered` can find it.
  const suffix = (messageId: string) => `-${createHash('sha256').update(messageId).digest('hex').slice(0, 16)}.eml`;
  return {
    description: `outbox ${outboxDir} (SMTP_URL is not set: mails are written as .eml files, not sent)`,
    newMessageId,
    async delivered(messageId) {
      const names = await readdir(outboxDir).catch(() => [] as string[]);
      return names.some((name) => name.endsWith(suffix(messageId)));
    },
    async send(message, { signal } = {}) {
      signal?.throwIfAborted();
      const messageId = message.messageId ?? newMessageId();
      const info = await transport.sendMail({ from, ...message, messageId });
      await mkdir(outboxDir, { recursive: true });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}${suffix(messageId)}`;
      const file = join(outboxDir, name);
      await writeAtomically(file, join(outboxDir, `.${name}.tmp`), info.message as Buffer);
      return { messageId: String(info.messageId), delivery: file };
    },
    close: () => transport.close(),
  };
}

/**
 * Writes a dot-named temporary file beside the target, fsyncs it and renames it over: a kill or a
 * power loss leaves either the whole `.eml` or none (and maybe a `.tmp`), never a partial mail.
 */
async function writeAtomically(file: string, temp: string, content: Buffer): Promise<void> {
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  await rename(temp, file);
}
