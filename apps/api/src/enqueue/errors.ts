import { HttpError } from '@ceres/http';
import { BatchValidationError, InvalidJobKeyError, PayloadValidationError, QueueUnavailableError, UnknownJobTypeError } from '@ceres/queues';

/** The producers' errors in the one error shape; their messages are the producers' own. */
export function queuesErrorToHttp(error: unknown): HttpError | undefined {
  if (error instanceof PayloadValidationError) {
    return new HttpError('INVALID_BODY', error.message, { field: error.issues[0]?.field, issues: error.issues });
  }
  if (error instanceof InvalidJobKeyError) {
    const field = error.field ?? '';
    return new HttpError('INVALID_BODY', error.message, { field, issues: [{ field, message: error.message }] });
  }
  if (error instanceof BatchValidationError) {
    return new HttpError('INVALID_BODY', error.message, { field: error.items[0]?.issues[0]?.field, items: error.items });
  }
  if (error instanceof UnknownJobTypeError) return new HttpError('UNKNOWN_JOB_TYPE', error.message, { known: error.known });
  if (error instanceof QueueUnavailableError) return new HttpError('QUEUE_UNAVAILABLE', error.message);
  return undefined;
}
