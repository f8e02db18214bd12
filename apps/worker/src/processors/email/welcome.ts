import type { Mailer } from '../../deps/mailer';
import { welcomeEmail } from '../../mail/templates';
import type { Processor } from '../types';

export interface WelcomeDeps {
  mailer: Mailer;
  appUrl: string;
}

export const welcome: Processor<'email/welcome', { sent: true; messageId: string }, WelcomeDeps> = async (job, deps) => {
  const { email, firstName } = job.data;
  const sent = await deps.mailer.send({ to: email, ...welcomeEmail({ firstName, appUrl: deps.appUrl }) });
  return { sent: true, messageId: sent.messageId };
};

export default welcome;
