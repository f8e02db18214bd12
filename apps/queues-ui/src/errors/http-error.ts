/**
 * An error the API answers as JSON `{ code, message, ...extra }` with its status, never with a
 * stack trace.
 */
export class HttpError extends Error {
  override name = 'HttpError';

  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    /** Extra fields of the JSON answer, e.g. `field` or `known`. */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** A bad parameter, query or body field; `field` names it. */
export class BadRequestError extends HttpError {
  constructor(field: string, message: string) {
    super(400, 'BAD_REQUEST', message, { field });
  }
}

export class UnknownQueueError extends HttpError {
  constructor(queue: string, known: readonly string[]) {
    super(404, 'UNKNOWN_QUEUE', `unknown queue "${queue}"; known queues: ${known.join(', ')}`, { known: [...known] });
  }
}

export class UnknownSchedulerError extends HttpError {
  constructor(id: string, known: readonly string[]) {
    super(404, 'UNKNOWN_SCHEDULER', `unknown job scheduler "${id}"`, { known: [...known] });
  }
}

export class QueuesUnavailableError extends HttpError {
  constructor() {
    super(503, 'QUEUE_UNAVAILABLE', 'Redis cannot be reached right now; try again shortly');
  }
}

/** Two queues hold a scheduler with the same id; the caller must say which one. */
export class AmbiguousSchedulerError extends HttpError {
  constructor(id: string, queues: readonly string[]) {
    super(409, 'AMBIGUOUS_SCHEDULER', `job scheduler "${id}" exists in several queues (${queues.join(', ')}); add ?queue=<name>`, {
      queues: [...queues],
    });
  }
}
