/**
 * The profile picture cannot be turned into a WebP: not an image, a format that is not accepted,
 * over the byte or pixel limit, or undecodable. The same bytes would fail again, so no retry.
 */
export class UnprocessableImageError extends Error {
  override name = 'UnprocessableImageError';

  constructor(
    readonly fileKey: string,
    readonly reason: string,
  ) {
    super(`file ${JSON.stringify(fileKey)} ${reason}`);
  }
}
