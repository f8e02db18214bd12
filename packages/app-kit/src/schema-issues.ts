import { hasUnstorableText } from './storable-text';
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
    if (!byField.has(field))
      byField.set(field, {
        field,
        message: `${field === '' ? 'payload' : field} contains a NUL character or a lone UTF-16 surrogate, which cannot be stored`,
      });
  }
  return [...byField.values()];
}

/** The dotted paths of the strings in `value` (keys included) that PostgreSQL cannot store. */
export function unstorableTextFields(value: unknown, path = '', found: string[] = [], depth = 0): string[] {
  if (typeof value === 'string') {
    if (hasUnstorableText(value)) found.push(path);
  } else if (value !== null && typeof value === 'object' && depth < 32) {
    for (const [key, item] of Object.entries(value)) {
      const itemPath = path === '' ? key : `${path}.${key}`;
      if (hasUnstorableText(key)) found.push(itemPath);
      else unstorableTextFields(item, itemPath, found, depth + 1);
    }
  }
  return found;
}

function describe(field: string, error: ValueError): string {
  const name = field === '' ? 'payload' : field;
  const schema = error.schema as Record<string, unknown>;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return `${name} is required`;
    case ValueErrorType.ObjectAdditionalProperties:
      return `${name} is not an allowed field`;
    case ValueErrorType.Object:
      return `${name} must be an object`;
    case ValueErrorType.String:
      return `${name} must be a string`;
    case ValueErrorType.StringFormat:
      return schema.format === 'email' ? `${name} must be a valid email address` : `${name} must match format ${String(schema.format)}`;
    case ValueErrorType.StringMinLength:
      return `${name} must be at least ${String(schema.minLength)} characters long`;
    case ValueErrorType.StringMaxLength:
      return `${name} must be at most ${String(schema.maxLength)} characters long`;
    case ValueErrorType.StringPattern:
      // A pattern that stands for a format says so; others may carry a readable hint (`x-pattern-hint`).
      if (schema.format === 'email') return `${name} must be a valid email address`;
      if (typeof schema['x-pattern-hint'] === 'string') return `${name} ${schema['x-pattern-hint']}`;
      return `${name} contains characters that are not allowed (line breaks, control characters, or outside ${String(schema.pattern)})`;
    case ValueErrorType.Integer:
      return `${name} must be an integer`;
    case ValueErrorType.Number:
      return `${name} must be a number`;
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return `${name} must be at least ${String(schema.minimum)}`;
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return `${name} must be at most ${String(schema.maximum)}`;
    case ValueErrorType.Union: {
      // A union of different kinds (a number or a word) says what it takes in its own words.
      if (typeof schema['x-union-hint'] === 'string') return `${name} ${schema['x-union-hint']}`;
      const choices = ((schema.anyOf as Array<{ const?: unknown }>) ?? []).map((option) => option.const);
      return choices.every((choice) => choice !== undefined)
        ? `${name} must be one of ${choices.join(', ')}`
        : `${name} ${error.message.toLowerCase()}`;
    }
    default:
      return `${name}: ${error.message}`;
  }
}
