import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { PayloadValidationError, type FieldIssue } from './errors/payload-validation-error';
import { UnknownJobTypeError } from './errors/unknown-job-type-error';
import { findJobDefinition, JOB_TYPES } from './registry';

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checkerFor(schema: TSchema): TypeCheck<TSchema> {
  let checker = compiled.get(schema);
  if (!checker) {
    checker = TypeCompiler.Compile(schema);
    compiled.set(schema, checker);
  }
  return checker;
}

/** Every problem of `value` against `schema`, one issue per field, each naming its field. */
export function schemaIssues(schema: TSchema, value: unknown): FieldIssue[] {
  const checker = checkerFor(schema);
  if (checker.Check(value)) return [];
  const byField = new Map<string, FieldIssue>();
  for (const error of checker.Errors(value)) {
    const field = error.path.replace(/^\//, '').replace(/\//g, '.');
    if (!byField.has(field)) byField.set(field, { field, message: describe(field, error) });
  }
  return [...byField.values()];
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
      const choices = ((schema.anyOf as Array<{ const?: unknown }>) ?? []).map((option) => option.const);
      return choices.every((choice) => choice !== undefined)
        ? `${name} must be one of ${choices.join(', ')}`
        : `${name} ${error.message.toLowerCase()}`;
    }
    default:
      return `${name}: ${error.message}`;
  }
}

/** Throws {@link UnknownJobTypeError} for a `queue/job` the registry does not declare. */
export function jobDefinitionOrThrow(queue: string, job: string) {
  const definition = findJobDefinition(queue, job);
  if (!definition) {
    throw new UnknownJobTypeError(queue, job, JOB_TYPES.map((type) => `${type.queue}/${type.job}`));
  }
  return definition;
}

/** The issues of a payload for `queue/job`; empty when it is valid. */
export function validatePayload(queue: string, job: string, payload: unknown): FieldIssue[] {
  return schemaIssues(jobDefinitionOrThrow(queue, job).schema, payload);
}

/**
 * Checks a payload and returns it typed, or throws {@link PayloadValidationError}.
 * Workers call this first: a payload may have been written by an older producer.
 */
export function parsePayload<T = unknown>(queue: string, job: string, payload: unknown): T {
  const issues = validatePayload(queue, job, payload);
  if (issues.length > 0) throw new PayloadValidationError(queue, job, issues);
  return payload as T;
}
