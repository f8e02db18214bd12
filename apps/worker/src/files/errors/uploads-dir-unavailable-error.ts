/**
 * `UPLOADS_DIR` itself cannot be resolved (not mounted yet, removed, not a directory). This is a
 * problem of the machine, not of the job, so it stays retryable.
 */
export class UploadsDirUnavailableError extends Error {
  override name = 'UploadsDirUnavailableError';

  constructor(
    readonly root: string,
    reason: string,
  ) {
    super(`UPLOADS_DIR ${root} is unavailable: ${reason}`);
  }
}
