import { escapeHtml, layout, type MailBody } from '../../mail/layout';

/** The welcome mail; `appUrl` is where the user signs in. */
export function welcomeEmail(input: { firstName: string; appUrl: string }): MailBody {
  const subject = 'Welcome to Ceres';
  const name = escapeHtml(input.firstName);
  const href = escapeHtml(input.appUrl);
  return {
    subject,
    text: [`Hi ${input.firstName},`, '', 'Your account is ready. Sign in at:', input.appUrl, '', 'Welcome aboard!'].join('\n'),
    html: layout(
      subject,
      `<p>Hi ${name},</p>
<p>Your account is ready. <a href="${href}">Sign in to Ceres</a> to get started.</p>
<p>Welcome aboard!</p>`,
    ),
  };
}
