/**
 * A file key that is not a plain path inside `UPLOADS_DIR`: absolute, with a `..` segment, a NUL
 * or backslash, or one that reaches outside through a symbolic link. Retrying cannot fix it.
 */
export class UnsafeFileKeyError extends Error {
  override name = 'UnsafeFileKeyError';

  constructor(
    readonly fileKey: string,
    readonly reason: string,
  ) {
    super(`unsafe file key ${JSON.stringify(fileKey)}: ${reason}`);
  }
}
