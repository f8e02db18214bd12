import type { FieldIssue } from '@ceres/app-kit';
import type { JobDefinition } from './jobs/define';

/** The issue of a key the job type reserves for the worker's own jobs, or undefined when it is free to use. */
export function reservedKeyIssue(definition: JobDefinition, key: unknown): FieldIssue | undefined {
  const field = definition.keyField;
  if (!field || !definition.reservedKeyPrefixes || typeof key !== 'string') return undefined;
  const prefix = definition.reservedKeyPrefixes.find((candidate) => key.startsWith(candidate));
  if (prefix === undefined) return undefined;
  return { field, message: `${field} must not start with "${prefix}": the worker reserves it for its own alerts` };
}
