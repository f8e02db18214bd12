import { schemaIssues } from '@ceres/queues';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { BadRequestError } from '../errors';

/**
 * Checks request input against a TypeBox schema and returns it typed, or throws a 400 naming the
 * first bad field. `convert` turns query-string text into numbers; bodies are JSON already and
 * are taken as sent.
 */
export function parseInput<S extends TSchema>(schema: S, value: unknown, { convert = false } = {}): Static<S> {
  let candidate = Value.Default(schema, structuredClone(value ?? {}));
  if (convert) candidate = Value.Convert(schema, candidate);
  const [issue] = schemaIssues(schema, candidate);
  if (issue) throw new BadRequestError(issue.field || 'body', issue.message);
  return candidate as Static<S>;
}
