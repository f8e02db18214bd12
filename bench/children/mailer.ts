// Pair 5: `pooled` is the worker's own mailer (apps/worker/src/deps/mailer.ts: pooled transport,
// 5 connections); `single` a plain nodemailer transport without a pool: one connection per mail.
import nodemailer from 'nodemailer';
import { createMailer } from '../../apps/worker/src/deps/mailer';

const side = process.env.BENCH_SIDE as 'pooled' | 'single';
const count = Number(process.env.BENCH_COUNT);
const inFlight = Number(process.env.BENCH_IN_FLIGHT);
const smtpUrl = process.env.SMTP_URL!;
const from = 'Ceres <no-reply@localhost>';
const message = (i: number) => ({ to: `user${i}@example.com`, subject: `Mail ${i}`, text: `Hello ${i}`, html: `<p>Hello ${i}</p>` });

let send: (i: number) => Promise<unknown>;
let close: () => void;
if (side === 'pooled') {
  const mailer = createMailer({ smtpUrl, outboxDir: 'unused', from });
  send = (i) => mailer.send(message(i));
  close = () => mailer.close();
} else {
  const transport = nodemailer.createTransport(smtpUrl);
  send = (i) => transport.sendMail({ from, ...message(i) });
  close = () => transport.close();
}

const started = Date.now();
let next = 0;
await Promise.all(
  Array.from({ length: inFlight }, async () => {
    while (next < count) await send(next++);
  }),
);
process.send!({ type: 'done', ms: Date.now() - started });
close();
process.disconnect();
