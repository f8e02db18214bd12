export { BatchValidationError, type BatchItemIssues } from './batch-validation-error';
export { InvalidJobKeyError } from './invalid-job-key-error';
export { PayloadValidationError, type FieldIssue } from './payload-validation-error';
export { QueueUnavailableError } from './queue-unavailable-error';
export { ReplicationError } from './replication-error';
export { UnknownJobTypeError } from './unknown-job-type-error';
