import { schemaIssues, type FieldIssue } from '@ceres/app-kit';
import { PayloadValidationError } from './errors/payload-validation-error';
import { UnknownJobTypeError } from './errors/unknown-job-type-error';
import { findJobDefinition, JOB_TYPES } from './registry';

/** Throws {@link UnknownJobTypeError} for a `queue/job` the registry does not declare. */
export function jobDefinitionOrThrow(queue: string, job: string) {
  const definition = findJobDefinition(queue, job);
  if (!definition) {
    throw new UnknownJobTypeError(
      queue,
      job,
      JOB_TYPES.map((type) => `${type.queue}/${type.job}`),
    );
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
