import type { FieldIssue } from './payload-validation-error';

/** The problems of one item of a batch, by its position in the batch. */
export interface BatchItemIssues {
  index: number;
  issues: FieldIssue[];
}

/** At least one item of a batch is invalid; nothing of the batch was enqueued. */
export class BatchValidationError extends Error {
  override name = 'BatchValidationError';

  constructor(
    readonly queue: string,
    readonly job: string,
    readonly items: BatchItemIssues[],
  ) {
    super(`invalid ${queue}/${job} batch: ${items.length} item(s) rejected, nothing enqueued`);
  }
}
