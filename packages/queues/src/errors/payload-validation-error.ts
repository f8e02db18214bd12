import type { FieldIssue } from '@ceres/app-kit';

export type { FieldIssue };

/** A payload does not match its job type's schema. Every bad field is listed. */
export class PayloadValidationError extends Error {
  override name = 'PayloadValidationError';

  constructor(
    readonly queue: string,
    readonly job: string,
    readonly issues: FieldIssue[],
  ) {
    super(`invalid ${queue}/${job} payload: ${issues.map((issue) => issue.message).join('; ')}`);
  }
}
