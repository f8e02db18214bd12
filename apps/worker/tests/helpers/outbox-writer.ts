// A child process for outbox.test.ts: writes mails to the outbox as fast as it can until killed.
import { createMailer } from '../../src/deps/mailer';

const mailer = createMailer({ smtpUrl: undefined, outboxDir: process.argv[2]!, from: 'Ceres <no-reply@localhost>' });
const body = 'x'.repeat(64 * 1024);
process.send?.('ready');
for (let n = 0; ; n++) {
  await mailer.send({ to: `user-${n}@example.com`, subject: `mail ${n}`, text: body, html: `<p>${body}</p>` });
}
