import { renderTemplate, signUnsubscribeToken, type UnsubscribeSubject } from '@ceres/app-kit';
import type { CampaignContent } from '@ceres/db';
import type { MailMessage } from '../deps/mailer';

export interface UnsubscribeLinks {
  /** Signs the tokens; the API checks them with the same secret. */
  secret: string;
  /** The API's `POST /unsubscribe`, without the query. */
  url: string;
  /** The mailbox of the `mailto:` alternative. */
  mailto: string;
}

/** The one-click unsubscribe URL of one recipient of one campaign. */
export function unsubscribeUrl(links: UnsubscribeLinks, subject: UnsubscribeSubject): string {
  const url = new URL(links.url);
  url.searchParams.set('t', signUnsubscribeToken(links.secret, subject));
  return url.toString();
}

/**
 * One recipient's mail: the campaign's templates with `{{firstName}}` and `{{unsubscribeUrl}}`
 * filled in (escaped in HTML, never CR/LF in the subject), and the RFC 8058 one-click headers.
 */
export function newsletterMessage(
  content: CampaignContent,
  recipient: { email: string; firstName: string },
  links: UnsubscribeLinks,
  subject: UnsubscribeSubject,
): MailMessage {
  const url = unsubscribeUrl(links, subject);
  const token = new URL(url).searchParams.get('t')!;
  const values = { firstName: recipient.firstName, unsubscribeUrl: url };
  return {
    to: recipient.email,
    subject: renderTemplate(content.subject, values, 'header'),
    text: renderTemplate(content.text, values, 'text'),
    ...(content.html === null ? {} : { html: renderTemplate(content.html, values, 'html') }),
    headers: {
      'List-Unsubscribe': `<${url}>, <mailto:${links.mailto}?subject=unsubscribe%20${token}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  };
}
