import { escapeHtml } from '@ceres/app-kit';

/** Escapes text for HTML element content and quoted attribute values (one implementation, in app-kit). */
export { escapeHtml };

export interface MailBody {
  subject: string;
  text: string;
  html: string;
}

const layout = (title: string, body: string) => `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>
<body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #1f2933; max-width: 560px; margin: 0 auto; padding: 24px;">
${body}
<p style="color: #7b8794; font-size: 12px;">Ceres</p>
</body>
</html>`;

/** The account verification mail; `link` is `${APP_URL}/verify?token=…`. */
export function verifyEmail(input: { firstName: string; link: string }): MailBody {
  const subject = 'Confirm your email address';
  const name = escapeHtml(input.firstName);
  const href = escapeHtml(input.link);
  return {
    subject,
    text: [
      `Hi ${input.firstName},`,
      '',
      'Please confirm your email address by opening this link:',
      input.link,
      '',
      "If you did not create a Ceres account, you can ignore this mail.",
    ].join('\n'),
    html: layout(
      subject,
      `<p>Hi ${name},</p>
<p>Please confirm your email address:</p>
<p><a href="${href}" style="background: #3e7bfa; color: #fff; padding: 10px 16px; border-radius: 6px; text-decoration: none;">Confirm my email</a></p>
<p>Or open this link: <a href="${href}">${href}</a></p>
<p>If you did not create a Ceres account, you can ignore this mail.</p>`,
    ),
  };
}

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
