import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';

/** One problem with one field of a payload. `field` is a dotted path, `''` for the payload itself. */
export interface FieldIssue {
  field: string;
  message: string;
}

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checkerFor(schema: TSchema): TypeCheck<TSchema> {
  let checker = compiled.get(schema);
  if (!checker) {
    checker = TypeCompiler.Compile(schema);
    compiled.set(schema, checker);
  }
  return checker;
}

/**
 * Every problem of `value` against `schema`, one issue per field, each naming its field. A string
 * holding a NUL or a lone UTF-16 surrogate is a problem whatever the schema says: PostgreSQL
 * (jsonb, text) cannot store either, so such a payload could never be archived.
 */
export function schemaIssues(schema: TSchema, value: unknown): FieldIssue[] {
  const checker = checkerFor(schema);
  const byField = new Map<string, FieldIssue>();
  if (!checker.Check(value)) {
    for (const error of checker.Errors(value)) {
      const field = error.path.replace(/^\//, '').replace(/\//g, '.');
      if (!byField.has(field)) byField.set(field, { field, message: describe(field, error) });
    }
  }
  for (const field of unstorableTextFields(value)) {
    if (!byField.has(field)) byField.set(field, { field, message: `${field === '' ? 'payload' : field} contains a NUL character or a lone UTF-16 surrogate, which cannot be stored` });
  }
  return [...byField.values()];
}

/** A NUL, a high surrogate not followed by a low one, or a low one not preceded by a high one. */
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The dotted paths of the strings in `value` (keys included) that PostgreSQL cannot store. */
export function unstorableTextFields(value: unknown, path = '', found: string[] = [], depth = 0): string[] {
  if (typeof value === 'string') {
    if (UNSTORABLE.test(value)) found.push(path);
  } else if (value !== null && typeof value === 'object' && depth < 32) {
    for (const [key, item] of Object.entries(value)) {
      const itemPath = path === '' ? key : `${path}.${key}`;
      if (UNSTORABLE.test(key)) found.push(itemPath);
      else unstorableTextFields(item, itemPath, found, depth + 1);
    }
  }
  return found;
}
