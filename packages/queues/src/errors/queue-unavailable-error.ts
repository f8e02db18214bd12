/** Redis cannot take the job right now; nothing was enqueued. Callers answer 503 and retry later. */
export class QueueUnavailableError extends Error {
  override name = 'QueueUnavailableError';

  /** @param options.reason why, when Redis answered (out of memory, …); default: it cannot be reached */
  constructor(options?: { cause?: unknown; reason?: string }) {
    super(`the job queue is unavailable (${options?.reason ?? 'Redis cannot be reached'}); nothing was enqueued`, options);
  }
}
