import type { EnqueueOptions } from '@ceres/queues';
import type { FastifyRouteSchemaDef, FastifyValidationResult } from 'fastify/types/schema';

const hasOwn = (object: object, key: string) => Object.prototype.hasOwnProperty.call(object, key);

/**
 * Splits `{ ...payload, delay?, priority? }` into the payload and the options. The common case, a
 * body without options, is passed through as it is: no copy.
 */
export function splitOptions(body: unknown): { payload: unknown; options: EnqueueOptions | undefined } {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !(hasOwn(body, 'delay') || hasOwn(body, 'priority'))) {
    return { payload: body, options: undefined };
  }
  const { delay, priority, ...payload } = body as Record<string, unknown>;
  const options: Record<string, unknown> = {};
  if (delay !== undefined) options.delay = delay;
  if (priority !== undefined) options.priority = priority;
  return { payload, options: options as EnqueueOptions };
}

/**
 * The enqueue routes' body validator: QueueClient.enqueue/enqueueBulk check the body against the
 * same TypeBox payload schema the route publishes, once, with the producers' own messages (a
 * second pass here would cost the hot path and word the 400s differently).
 */
const passThrough: FastifyValidationResult = (data: unknown) => ({ value: data });
export function bodyByQueueClient<S>(_route: FastifyRouteSchemaDef<S>): FastifyValidationResult {
  return passThrough;
}
