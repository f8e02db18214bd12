import type { Db } from '@ceres/db';
import type { Mailer, MailMessage, SentMail } from '../deps/mailer';
import { MailOutcomeUnknownError } from './unknown-outcome';
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
  let sent: SentMail;
  try {
    sent = await deps.mailer.send(message, { signal: ctx.signal });
  } catch (error) {
    if (!(error instanceof MailOutcomeUnknownError)) throw error;
    // The relay may have it: recorded as sent, so that the retry does not mail it a second time.
    ctx.logger.warn({ messageId: error.messageId }, 'mail outcome unknown (the deadline cut the SMTP transaction); recorded as sent, not sent again');
    await deps.db.sentMails.record({ ...key, messageId: error.messageId }).catch((recordError: unknown) => {
      ctx.logger.warn({ err: errorSummary(recordError) }, 'the sent-mail record of a mail of unknown outcome could not be written');
    });
    throw error;
  }
  try {
    await deps.db.sentMails.record({ ...key, messageId: sent.messageId });
  } catch (error) {
    // The mail is out: failing the job now would only send it again.
    ctx.logger.warn({ err: errorSummary(error) }, 'mail sent, but the sent-mail record could not be written');
  }
  return { messageId: sent.messageId, repeated: false };
}
