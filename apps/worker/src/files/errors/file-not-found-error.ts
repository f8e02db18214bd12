/**
 * The key is safe but names nothing usable under `UPLOADS_DIR`: no such file, or a directory or
 * other non-regular file. The platform enqueues after the upload is stored, so retrying would not
 * make it appear.
 */
export class FileNotFoundError extends Error {
  override name = 'FileNotFoundError';

  constructor(
    readonly fileKey: string,
    readonly reason: 'missing' | 'not a regular file' = 'missing',
  ) {
    super(
      reason === 'missing'
        ? `file ${JSON.stringify(fileKey)} does not exist under UPLOADS_DIR`
        : `file ${JSON.stringify(fileKey)} is not a regular file`,
    );
  }
}
