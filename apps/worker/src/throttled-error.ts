/**
 * A peer asked us to slow down (an SMTP throttling answer, a Slack 429): back-pressure, not a
 * failure of the job. Any processor or dep may throw it; the runner then pauses the whole queue for
 * `retryAfterMs` in every worker process (BullMQ's `Queue.rateLimit`) and puts the job back to
 * wait (`Worker.RateLimitError`) without consuming an attempt.
 */
export class ThrottledError extends Error {
  override name = 'ThrottledError';
  constructor(
    /** How long the queue should take nothing, in ms. */
    readonly retryAfterMs: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The {@link ThrottledError} in `error` or its chain of causes (a processor may wrap a dep's error). */
export function findThrottled(error: unknown): ThrottledError | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof ThrottledError) return current;
  }
  return undefined;
}
