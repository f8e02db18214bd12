import { SMTPServer } from 'smtp-server';
import { freePort } from '@ceres/testing';

/** A real SMTP server on loopback that answers RCPT TO and the end of DATA late: a slow relay. */
export interface SlowSmtp {
  url: string;
  /** Recipients of every message received in full (the final dot), whether or not answered yet. */
  received: string[];
  /** Sessions the client closed, with whether the server had answered RCPT TO by then. */
  closed: Array<{ rcptAnswered: boolean }>;
  /** RCPT TO answers sent so far (late ones included, on a session the client has left). */
  rcptAnswers(): number;
  /** Transactions started (MAIL FROM) and not over yet: no DATA answer sent, session still open. */
  inFlight(): number;
  close(): Promise<void>;
}

export async function startSlowSmtp(delays: { rcptMs: number; dataMs: number }): Promise<SlowSmtp> {
  const received: string[] = [];
  const closed: SlowSmtp['closed'] = [];
  const answered = new Set<string>();
  const transactions = new Set<string>();
  let rcptAnswers = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    closeTimeout: 500,
    onMailFrom(_address, session, callback) {
      transactions.add(session.id);
      callback();
    },
    onRcptTo(_address, session, callback) {
      setTimeout(() => {
        answered.add(session.id);
        rcptAnswers++;
        callback();
      }, delays.rcptMs);
    },
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        // A relay that got the whole message may deliver it even if the client leaves before
        // the answer: the worst case, so the test counts it as delivered here.
        received.push(...session.envelope.rcptTo.map((rcpt) => rcpt.address));
        setTimeout(() => {
          callback();
          transactions.delete(session.id);
        }, delays.dataMs);
      });
    },
    onClose(session) {
      closed.push({ rcptAnswered: answered.has(session.id) });
      transactions.delete(session.id);
    },
  });
  server.on('error', () => {});
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    closed,
    rcptAnswers: () => rcptAnswers,
    inFlight: () => transactions.size,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
