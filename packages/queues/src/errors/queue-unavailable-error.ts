/** Redis cannot be reached right now; nothing was enqueued. Callers answer 503 and retry later. */
export class QueueUnavailableError extends Error {
  override name = 'QueueUnavailableError';

  constructor(options?: { cause?: unknown }) {
    super('the job queue is unavailable (Redis cannot be reached); nothing was enqueued', options);
  }
}
