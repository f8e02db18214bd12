import { escapeHtml, layout, type MailBody } from '../../mail/layout';

/** The password reset mail; `link` is `${APP_URL}/reset-password?token=…`. */
export function passwordResetEmail(input: { firstName: string; link: string }): MailBody {
  const subject = 'Reset your password';
  const name = escapeHtml(input.firstName);
  const href = escapeHtml(input.link);
  return {
    subject,
    text: [
      `Hi ${input.firstName},`,
      '',
      'Someone asked to reset the password of your Ceres account. To choose a new one, open this link:',
      input.link,
      '',
      'If it was not you, you can ignore this mail: your password stays as it is.',
    ].join('\n'),
    html: layout(
      subject,
      `<p>Hi ${name},</p>
<p>Someone asked to reset the password of your Ceres account. To choose a new one:</p>
<p><a href="${href}" style="background: #3e7bfa; color: #fff; padding: 10px 16px; border-radius: 6px; text-decoration: none;">Reset my password</a></p>
<p>Or open this link: <a href="${href}">${href}</a></p>
<p>If it was not you, you can ignore this mail: your password stays as it is.</p>`,
    ),
  };
}
