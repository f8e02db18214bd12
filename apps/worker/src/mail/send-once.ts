import type { Db, SendingRun } from '@ceres/db';
import type { Mailer, MailMessage, SentMail } from '../deps/mailer';
import { errorSummary } from '../redact';
import type { AttemptContext, ProcessorJob } from '../processors/types';
import { MailOutcomeUnknownError } from './unknown-outcome';

export interface SendOnceDeps {
  mailer: Mailer;
  db: Pick<Db, 'sentMails'>;
}

/**
 * The run that wrote the record died during the send: the job has stalled since (a kill, the
 * stalled check), in the same attempt. A run that ended knowing the mail did not go out (a counted
 * failure, a throttling answer) leaves the record to the next run, which sends it.
 */
function diedSending(sending: SendingRun, run: SendingRun): boolean {
  return sending.attempt === run.attempt && run.stalled > sending.stalled;
}

/**
 * Sends the job's mail unless a run of the same job (its id and creation time) already did. The
 * record is written before the send (which run sends, with which Message-ID) and settled right
 * after the server (or the outbox) accepted the mail: a run after a crash finds it. Settled: the
 * mail went out, not sent again. Unsettled, written by a run that died mid-send: the outbox tells
 * whether its file exists (sent now if not, under the same Message-ID); through SMTP the outcome
 * is unknown and the mail is sent again under the same Message-ID (logged at warn): a mail the
 * relay never got must not be lost (at least once), and a repeat carries the first one's
 * Message-ID, so a relay or mail client can tell it is the same mail. The record only narrows duplicates:
 * when PostgreSQL cannot be asked or written, the mail is still sent (at least once stays the
 * contract).
 */
export async function sendOnce(
  job: ProcessorJob<unknown>,
  deps: SendOnceDeps,
  ctx: AttemptContext,
  message: MailMessage,
): Promise<{ messageId: string; repeated: boolean }> {
  const key = { queue: job.queueName, jobId: String(job.id), jobCreatedAt: new Date(job.timestamp) };
  const run = { attempt: job.attemptsMade, stalled: job.stalledCounter ?? 0 };
  const settle = (messageId: string) =>
    deps.db.sentMails.record({ ...key, messageId }).catch((error: unknown) => {
      ctx.logger.warn({ err: errorSummary(error) }, 'the sent-mail record could not be settled');
      return false;
    });
  let messageId = deps.mailer.newMessageId();
  try {
    const row = await deps.db.sentMails.lookup(key);
    if (row !== null && row.sending === null) {
      ctx.logger.info('this job already sent its mail; not sent again');
      return { messageId: row.messageId, repeated: true };
    }
    if (row?.sending && diedSending(row.sending, run)) {
      const delivered = await deps.mailer.delivered(row.messageId).catch(() => undefined);
      if (delivered === true) {
        await settle(row.messageId);
        return { messageId: row.messageId, repeated: true };
      }
      if (delivered === undefined) {
        ctx.logger.warn(
          { messageId: row.messageId },
          'mail outcome unknown (the run sending it died); sent again under the same Message-ID',
        );
      }
      // Not delivered (the outbox has no such file), or unknown (SMTP): sent now, under its Message-ID.
      messageId = row.messageId;
    }
    if (!(await deps.db.sentMails.intend({ ...key, messageId, run }))) {
      // Another run of this job recorded it as accepted meanwhile.
      const sent = await deps.db.sentMails.find(key);
      if (sent !== null) return { messageId: sent, repeated: true };
    }
  } catch (error) {
    ctx.logger.warn({ err: errorSummary(error) }, 'could not look up or write the sent-mail record; sending anyway');
  }
  let sent: SentMail;
  try {
    sent = await deps.mailer.send({ ...message, messageId }, { signal: ctx.signal });
  } catch (error) {
    if (!(error instanceof MailOutcomeUnknownError)) throw error;
    // The relay may have it: recorded as sent, so that the retry does not mail it a second time.
    ctx.logger.warn(
      { messageId: error.messageId },
      'mail outcome unknown (the deadline cut the SMTP transaction); recorded as sent, not sent again',
    );
    await settle(error.messageId);
    throw error;
  }
  // The mail is out: a failed write must not fail the job (it would only send it again).
  await settle(sent.messageId);
  return { messageId: sent.messageId, repeated: false };
}
