/**
 * A send cut by the attempt's deadline (its `AbortSignal`) after it had started: the relay may
 * have accepted the mail (the whole message sent, its answer not yet read), or not. Sending it
 * again could mail it twice, so callers record it as sent and do not resend it (nodemailer's own
 * advice for an aborted send); the price is a mail cut before the relay had it, which is lost to
 * the warn line. `messageId` is the Message-ID the mail carries if it was delivered.
 */
export class MailOutcomeUnknownError extends Error {
  override name = 'MailOutcomeUnknownError';
  constructor(
    readonly messageId: string,
    options?: { cause?: unknown },
  ) {
    super('the attempt deadline cut the SMTP transaction: the mail may have been accepted; it is not sent again', options);
  }
}
