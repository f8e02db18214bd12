import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { freePort } from './free-port';
import { waitFor } from './wait-for';

export interface ReceivedMail {
  /** The SMTP envelope (what the server was told), as opposed to the headers. */
  envelope: { from: string | false; to: string[] };
  raw: Buffer;
  parsed: ParsedMail;
  /** `Date.now()` when the sink accepted the mail (end of DATA), before it parsed it. */
  receivedAt: number;
}

export interface RecipientRule {
  /** Matches the recipient address (RCPT TO). A string matches exactly, case-insensitively. */
  match: RegExp | string;
  /** 4xx: a transient refusal (the sender should retry); 5xx: permanent. */
  code: number;
  /** @defaultValue a message derived from the code */
  message?: string;
}

/** Every mail is refused at MAIL FROM with `code` until {@link SmtpSink.throttle}'s window ends. */
export interface Throttle {
  /** e.g. 421 (the server closes the connection after it, as smtp-server does), or 451. */
  code: number;
  /** The text after the code, e.g. `4.7.0 Too many messages, slow down`. */
  message: string;
  /** For how long from now. */
  forMs: number;
}

export interface SmtpSinkOptions {
  /** Recipients to refuse at RCPT TO. Can be changed later with {@link SmtpSink.setRules}. */
  rules?: RecipientRule[];
  /**
   * `false`: keep no messages, only {@link SmtpSink.receivedAt} and {@link SmtpSink.recipients}
   * (a bench of 100,000 mails). @defaultValue true
   */
  keepMessages?: boolean;
}

export interface SmtpSink {
  port: number;
  /** `smtp://127.0.0.1:<port>` — no TLS, no auth. */
  url: string;
  /** Every accepted message, in arrival order. */
  messages: ReceivedMail[];
  /** When each accepted mail arrived (`Date.now()`), in arrival order; kept even without `keepMessages`. */
  receivedAt: number[];
  /** The envelope recipients of each accepted mail, in arrival order; kept even without `keepMessages`. */
  recipients: string[][];
  /** RCPT TO commands refused so far, with the code answered. */
  refused: Array<{ to: string; code: number }>;
  setRules(rules: RecipientRule[]): void;
  /** Refuses every mail with a throttling answer for a while (`undefined`: stop now). */
  throttle(throttle: Throttle | undefined): void;
  /** MAIL FROM commands refused by {@link SmtpSink.throttle}, with when. */
  throttled: Array<{ code: number; at: number }>;
  /** Resolves with the messages once at least `count` have arrived. */
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

/** A real SMTP server on 127.0.0.1 that keeps what it receives, for tests. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  let rules = options.rules ?? [];
  const messages: ReceivedMail[] = [];
  const receivedAt: number[] = [];
  const recipients: string[][] = [];
  const keep = options.keepMessages !== false;
  const refused: SmtpSink['refused'] = [];
  const throttled: SmtpSink['throttled'] = [];
  let throttleWindow: (Throttle & { until: number }) | undefined;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onMailFrom(_address, _session, callback) {
      if (!throttleWindow || Date.now() >= throttleWindow.until) return callback();
      throttled.push({ code: throttleWindow.code, at: Date.now() });
      callback(Object.assign(new Error(throttleWindow.message), { responseCode: throttleWindow.code }));
    },
    onRcptTo(address, _session, callback) {
      const to = address.address;
      const rule = rules.find((r) => (typeof r.match === 'string' ? r.match.toLowerCase() === to.toLowerCase() : r.match.test(to)));
      if (!rule) return callback();
      refused.push({ to, code: rule.code });
      const error = Object.assign(
        new Error(rule.message ?? (rule.code >= 500 ? `${to}: recipient address rejected` : `${to}: mailbox busy, try again later`)),
        { responseCode: rule.code },
      );
      callback(error);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const at = Date.now();
        const to = session.envelope.rcptTo.map((rcpt) => rcpt.address);
        receivedAt.push(at);
        recipients.push(to);
        if (!keep) return callback();
        const raw = Buffer.concat(chunks);
        simpleParser(raw)
          .then((parsed) => {
            messages.push({
              envelope: {
                from: session.envelope.mailFrom ? session.envelope.mailFrom.address : false,
                to,
              },
              raw,
              parsed,
              receivedAt: at,
            });
            callback();
          })
          .catch((error: Error) => callback(error));
      });
    },
  });
  server.on('error', () => {});
  const port = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    messages,
    receivedAt,
    recipients,
    refused,
    throttled,
    setRules(next) {
      rules = next;
    },
    throttle(next) {
      throttleWindow = next && { ...next, until: Date.now() + next.forMs };
    },
    async waitForMessages(count, timeoutMs = 10_000) {
      await waitFor(() => messages.length >= count, { timeoutMs, what: `${count} mail(s) at the SMTP sink` });
      return messages;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
