/**
 * The business key that makes a deterministic job id is unusable
 * (empty, contains `:`, too long, or has control characters).
 * Raised before anything reaches BullMQ, so callers never see BullMQ's own id errors.
 */
export class InvalidJobKeyError extends Error {
  override name = 'InvalidJobKeyError';

  constructor(
    readonly queue: string,
    readonly job: string,
    /** The payload field the key comes from, when there is one. */
    readonly field: string | undefined,
    reason: string,
  ) {
    super(`${field ?? 'key'}: ${reason} (job id for ${queue}/${job})`);
  }
}
