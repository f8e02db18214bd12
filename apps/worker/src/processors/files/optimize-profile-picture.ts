import type { FileSandbox } from '../../deps/file-sandbox';
import type { FileStore } from '../../deps/file-store';
import { UnprocessableImageError } from '../../files/errors';
import type { FileLimits } from '../../files/limits';
import { formatBytes } from '../../files/sizes';
import { asUnrecoverable } from '../../files/unrecoverable';
import type { Processor } from '../types';

export interface OptimizeProfilePictureResult {
  /** `<fileKey without extension>.webp`, beside the source under UPLOADS_DIR. */
  outputKey: string;
  width: number;
  height: number;
  bytesBefore: number;
  bytesAfter: number;
}

export interface OptimizeProfilePictureDeps {
  fileStore: FileStore;
  /** Where the picture is decoded and encoded: a child process with a wall-clock limit and a memory cap. */
  fileSandbox: Pick<FileSandbox, 'profileWebp'>;
  limits: Pick<FileLimits, 'pictureMaxBytes' | 'pictureMaxPixels'>;
}

export { PROFILE_PICTURE_SIZE } from '../../files/profile-webp';

/**
 * `files/optimize-profile-picture`: turns the upload into a 512×512 WebP, upright by its EXIF
 * orientation, cropped to cover, without metadata, and writes it beside the source. Anything the
 * same bytes would fail again (unsafe key, missing file, not an image, over a limit) fails at
 * once with UnrecoverableError.
 */
export const optimizeProfilePicture: Processor<
  'files/optimize-profile-picture',
  OptimizeProfilePictureResult,
  OptimizeProfilePictureDeps
> = async (job, deps, ctx) => {
  const { fileStore, limits } = deps;
  const { logger, signal } = ctx;
  const { fileKey } = job.data;
  try {
    const source = await fileStore.stat(fileKey);
    if (source.size > limits.pictureMaxBytes) throw tooLarge(fileKey, source.size, limits.pictureMaxBytes);
    // Decoded from memory, not the path: libvips caches opened files by name, and the output may
    // replace the source (a `.webp` upload).
    const input = await fileStore.read(fileKey, { maxBytes: limits.pictureMaxBytes + 1 });
    if (input.length > limits.pictureMaxBytes) throw tooLarge(fileKey, input.length, limits.pictureMaxBytes);
    await job.updateProgress(10);
    signal.throwIfAborted();

    const output = await deps.fileSandbox.profileWebp(fileKey, input, limits, signal);
    await job.updateProgress(60);
    signal.throwIfAborted();

    const written = await fileStore.writeBeside(fileKey, '.webp', output.data);
    await job.updateProgress(100);
    const result: OptimizeProfilePictureResult = {
      outputKey: written.key,
      width: output.width,
      height: output.height,
      bytesBefore: input.length,
      bytesAfter: written.size,
    };
    logger.info({ bytesBefore: result.bytesBefore, bytesAfter: result.bytesAfter }, 'profile picture optimized');
    return result;
  } catch (error) {
    throw asUnrecoverable(error);
  }
};

function tooLarge(fileKey: string, size: number, limit: number): UnprocessableImageError {
  return new UnprocessableImageError(fileKey, `is ${formatBytes(size)}, over the limit of ${formatBytes(limit)}`);
}

export default optimizeProfilePicture;
