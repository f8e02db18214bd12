import { escapeHtml, layout, type MailBody } from '../../mail/layout';

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
      'If you did not create a Ceres account, you can ignore this mail.',
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
