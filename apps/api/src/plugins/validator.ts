import { schemaIssues } from '@ceres/queues';
import type { TSchema } from '@sinclair/typebox';
import type { FastifySchemaCompiler } from 'fastify';
import type { FastifyRouteSchemaDef, FastifyValidationResult } from 'fastify/types/schema';
import { ApiError } from '../errors/api-error';

/**
 * Route schemas (params, querystring) are checked by the same TypeBox code as the producers, so
 * every 400 reads alike. Enqueue bodies skip this: QueueClient validates them (see `bodyByQueueClient`).
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  return (data: unknown) => {
    const issues = schemaIssues(schema, data);
    if (issues.length === 0) return { value: data };
    const part = httpPart === 'body' ? 'body' : (httpPart ?? 'request');
    return {
      error: new ApiError(
        httpPart === 'body' ? 'INVALID_BODY' : 'INVALID_REQUEST',
        `invalid ${part}: ${issues.map((issue) => issue.message).join('; ')}`,
        { issues },
      ),
    };
  };
};

/**
 * For the enqueue routes: the body schema is attached for the OpenAPI document only, and
 * QueueClient.enqueue/enqueueBulk validate the body once, with the producers' own messages.
 */
const passThrough: FastifyValidationResult = (data: unknown) => ({ value: data });
export function bodyByQueueClient<S>(_route: FastifyRouteSchemaDef<S>): FastifyValidationResult {
  return passThrough;
}
