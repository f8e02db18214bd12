export { AmbiguousSchedulerError, BadRequestError, HttpError, QueuesUnavailableError, UnknownQueueError, UnknownSchedulerError } from './http-error';
