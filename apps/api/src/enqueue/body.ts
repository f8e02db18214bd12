import { invalidBody, issuesMessage, type HttpError } from '@ceres/http';
import { schemaIssues, type EnqueueOptions } from '@ceres/queues';
import type { TSchema } from '@sinclair/typebox';
import type { FastifySchemaCompiler } from 'fastify';
import { queuesErrorToHttp } from './errors';

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
 * The enqueue routes' body validator: the route's published schema decides (so what the OpenAPI
 * document accepts is exactly what is accepted), and a refused body is explained by the producers'
 * own checks (`explain`), so a 400 reads the same from the API and from app code.
 */
export function bodyBySchema<S>(explain: (body: unknown) => HttpError | undefined): FastifySchemaCompiler<S> {
  return ({ schema }) =>
    (data: unknown) => {
      const issues = schemaIssues(schema as unknown as TSchema, data);
      if (issues.length === 0) return { value: data };
      // The published schema refused what the producers would take: still a 400, in its words.
      const error = explain(data) ?? invalidBody(issuesMessage('invalid body', issues), issues);
      return { error };
    };
}

/** Runs `check`, returning the producers' error in the one error shape (undefined: it passed). */
export function producerError(check: () => void): HttpError | undefined {
  try {
    check();
    return undefined;
  } catch (error) {
    const http = queuesErrorToHttp(error);
    if (http) return http;
    throw error;
  }
}
