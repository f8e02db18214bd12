import { schemaIssues } from '@ceres/app-kit';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import type { FastifySchemaCompiler } from 'fastify';
import { HttpError, invalidBody, issuesMessage } from './errors';

/**
 * The one validation path of route schemas (params, querystring, body): the route's TypeBox schema
 * is the validator, checked by the same code as the producers' payloads, so every 400 reads alike
 * and names its field. Defaults of the schema are filled in. Set it with `app.setValidatorCompiler`.
 */
export const typeboxValidatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) => {
  const body = httpPart === 'body';
  const part = body ? 'body' : (httpPart ?? 'request');
  return (data: unknown) => {
    // A request without a body checks as an empty object, so the message names the missing fields.
    let value = Value.Default(schema, structuredClone(data ?? {}));
    if (!body) value = fromText(schema, value);
    const issues = schemaIssues(schema, value);
    if (issues.length === 0) return { value };
    const message = issuesMessage(`invalid ${part}`, issues);
    return { error: body ? invalidBody(message, issues) : new HttpError('INVALID_REQUEST', message, { field: issues[0]!.field, issues }) };
  };
};

/**
 * Path and query values arrive as text. Only plain decimal integers become numbers: TypeBox's own
 * conversion reads `1.5`, `1e20` and `0x10` as integers, which would accept what the schema refuses.
 */
function fromText(schema: TSchema, value: unknown): unknown {
  const properties = (schema as { properties?: Record<string, TSchema> }).properties;
  if (!properties || typeof value !== 'object' || value === null) return value;
  const converted: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  for (const [name, property] of Object.entries(properties)) {
    const raw = converted[name];
    if (typeof raw !== 'string') continue;
    if ((property.type === 'integer' || property.type === 'number') && /^-?[0-9]{1,15}$/.test(raw)) converted[name] = Number(raw);
    else if (property.type === 'boolean' && (raw === 'true' || raw === 'false')) converted[name] = raw === 'true';
  }
  return converted;
}
