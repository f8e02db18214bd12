import { UnrecoverableError } from 'bullmq';
import { FileNotFoundError, HostileFileError, UnprocessableImageError, UnsafeFileKeyError } from './errors';

/**
 * Turns the errors that the same job would hit again into BullMQ's {@link UnrecoverableError}, so
 * the job fails at once instead of walking the retry schedule; anything else (I/O trouble, an
 * unmounted `UPLOADS_DIR`, an abort) is returned as is and stays retryable.
 */
export function asUnrecoverable(error: unknown): unknown {
  if (
    error instanceof UnsafeFileKeyError ||
    error instanceof FileNotFoundError ||
    error instanceof UnprocessableImageError ||
    error instanceof HostileFileError
  ) {
    const final = new UnrecoverableError(error.message);
    (final as Error & { cause?: unknown }).cause = error;
    return final;
  }
  return error;
}
