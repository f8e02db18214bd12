import { HttpError, invalidBody } from '@ceres/http';
import {
  BatchValidationError,
  InvalidJobKeyError,
  PayloadValidationError,
  QueueUnavailableError,
  UnknownJobTypeError,
} from '@ceres/queues';

/** The producers' errors in the one error shape; their messages are the producers' own. */
export function queuesErrorToHttp(error: unknown): HttpError | undefined {
  if (error instanceof PayloadValidationError) return invalidBody(error.message, error.issues);
  if (error instanceof InvalidJobKeyError) return invalidBody(error.message, [{ field: error.field ?? '', message: error.message }]);
  if (error instanceof BatchValidationError) return invalidBody(error.message, { items: error.items });
  if (error instanceof UnknownJobTypeError) return new HttpError('UNKNOWN_JOB_TYPE', error.message, { known: error.known });
  if (error instanceof QueueUnavailableError) return new HttpError('QUEUE_UNAVAILABLE', error.message);
  return undefined;
}
