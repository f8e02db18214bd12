import type { Db } from '@ceres/db';
import type { Mailer } from '../../deps/mailer';
import { sendOnce } from '../../mail/send-once';
import { welcomeEmail } from './welcome.template';
import type { Processor } from '../types';

export interface WelcomeDeps {
  mailer: Mailer;
  db: Pick<Db, 'sentMails'>;
  appUrl: string;
}

export const welcome: Processor<'email/welcome', { sent: true; messageId: string }, WelcomeDeps> = async (job, deps, ctx) => {
  const { email, firstName } = job.data;
  // A re-run of a job whose mail is recorded as sent does not send it again.
  const sent = await sendOnce(job, deps, ctx, { to: email, ...welcomeEmail({ firstName, appUrl: deps.appUrl }) });
  return { sent: true, messageId: sent.messageId };
};

export default welcome;
