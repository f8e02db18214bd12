import type { Db } from '@ceres/db';
import type { Mailer, MailMessage } from '../deps/mailer';
import { errorSummary } from '../redact';
import type { AttemptContext, ProcessorJob } from '../processors/types';

export interface SendOnceDeps {
  mailer: Mailer;
  db: Pick<Db, 'sentMails'>;
}

/**
 * Sends the job's mail unless a run of the same job (its id and creation time) already did: a
 * job re-run after a crash (the stalled check) finds the record written right after the SMTP
 * server accepted the mail, and does not send it again. What remains is the instant between
 * that acceptance and the record. The record only narrows duplicates: when PostgreSQL cannot
 * be asked or written, the mail is still sent (at least once stays the contract).
 */
export async function sendOnce(
  job: ProcessorJob<unknown>,
  deps: SendOnceDeps,
  ctx: AttemptContext,
  message: MailMessage,
): Promise<{ messageId: string; repeated: boolean }> {
  const key = { queue: job.queueName, jobId: String(job.id), jobCreatedAt: new Date(job.timestamp) };
  try {
    const recorded = await deps.db.sentMails.find(key);
    if (recorded !== null) {
      ctx.logger.info('this job already sent its mail; not sent again');
      return { messageId: recorded, repeated: true };
    }
  } catch (error) {
    ctx.logger.warn({ err: errorSummary(error) }, 'could not look up the sent-mail record; sending anyway');
  }
  const sent = await deps.mailer.send(message);
  try {
    await deps.db.sentMails.record({ ...key, messageId: sent.messageId });
  } catch (error) {
    // The mail is out: failing the job now would only send it again.
    ctx.logger.warn({ err: errorSummary(error) }, 'mail sent, but the sent-mail record could not be written');
  }
  return { messageId: sent.messageId, repeated: false };
}
