import type { FieldIssue } from '@ceres/queues';

/** The stable `code` of every error response; clients switch on these, never on messages. */
export const ERROR_CODES = {
  INVALID_BODY: 400,
  INVALID_REQUEST: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  UNKNOWN_JOB_TYPE: 404,
  UNKNOWN_QUEUE: 404,
  JOB_NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  QUEUE_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetails {
  issues?: FieldIssue[];
  items?: Array<{ index: number; issues: FieldIssue[] }>;
  known?: string[];
}

/** An error the API answers as-is: its status comes from its code, its message is safe to show. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly statusCode: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.statusCode = ERROR_CODES[code];
  }
}
