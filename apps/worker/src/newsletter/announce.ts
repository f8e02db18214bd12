import type { Db } from '@ceres/db';
import type { QueueClient } from '@ceres/queues';
import type { AttemptContext } from '../processors/types';
import { escapeSlack } from '../slack-escape';

export interface AnnounceDeps {
  db: Pick<Db, 'newsletter'>;
  queues: Pick<QueueClient, 'enqueue'>;
}

const n = (value: number) => value.toLocaleString('en-US');

/**
 * Closes the campaign when no recipient is pending and posts its one Slack summary. Any process may
 * call it after any outcome: PostgreSQL lets one close it, and the alert's dedupe key
 * (`newsletter-<campaignId>`) keeps a repeated announcement (a retry after a crash between the
 * enqueue and `markAnnounced`, two closers racing) to one message.
 */
export async function announceIfDone(campaignId: string, deps: AnnounceDeps, ctx: AttemptContext): Promise<boolean> {
  const closed = await deps.db.newsletter.closeIfDone(campaignId);
  if (!closed) return false;
  const { figures } = closed;
  const how = closed.state === 'cancelled' ? 'was cancelled' : 'is done';
  const parts = [`${n(figures.sent)} sent`, `${n(figures.failed)} failed`, `${n(figures.unsubscribed)} unsubscribed`];
  if (figures.cancelled > 0 || closed.state === 'cancelled') parts.push(`${n(figures.cancelled)} not sent (cancelled)`);
  const text = `Newsletter campaign "${escapeSlack(closed.subject)}" (\`${campaignId}\`) ${how}: ${n(figures.total)} recipients, ${parts.join(', ')}.`;
  // The tenant's own alert: to its Slack webhook when it has one.
  await deps.queues.enqueue(
    'slack/alert',
    { text, severity: figures.failed > 0 ? 'warning' : 'info', dedupeKey: `newsletter-${campaignId}` },
    { tenant: ctx.tenant },
  );
  await deps.db.newsletter.markAnnounced(campaignId);
  ctx.logger.info({ campaignId, state: closed.state, ...figures }, 'newsletter campaign finished');
  return true;
}
