import sharp, { type Metadata } from 'sharp';
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
  limits: Pick<FileLimits, 'pictureMaxBytes' | 'pictureMaxPixels'>;
}

/** Side of the square profile picture, in pixels. */
export const PROFILE_PICTURE_SIZE = 512;
/** WebP quality: visually clean for faces at 512 px, a few tens of KB. */
const WEBP_QUALITY = 82;
/**
 * Raster formats a camera or an editor produces. SVG is left out on purpose: it is a document
 * that can reference other files, not pixels.
 */
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'avif', 'tiff']);

/**
 * `files/optimize-profile-picture`: turns the upload into a 512×512 WebP, upright by its EXIF
 * orientation, cropped to cover, without metadata, and writes it beside the source. Anything the
 * same bytes would fail again (unsafe key, missing file, not an image, over a limit) fails at
 * once with UnrecoverableError.
 */
export const optimizeProfilePicture: Processor<'files/optimize-profile-picture',
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

    const output = await toProfileWebp(fileKey, input, limits.pictureMaxPixels);
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

async function toProfileWebp(
  fileKey: string,
  input: Buffer,
  maxPixels: number,
): Promise<{ data: Buffer; width: number; height: number }> {
  // limitInputPixels makes libvips refuse, before decoding, an image whose header declares more
  // pixels: a small file cannot expand into gigabytes. failOn 'error' still accepts the slightly
  // damaged JPEGs phones produce, but not undecodable ones.
  let metadata: Metadata;
  try {
    // Reads the header only, so no pixel limit is needed here and the check below can name the
    // declared size.
    metadata = await sharp(input, { limitInputPixels: false }).metadata();
  } catch {
    throw new UnprocessableImageError(fileKey, 'is not an image in a format that can be read');
  }
  if (!ACCEPTED_FORMATS.has(metadata.format)) {
    throw new UnprocessableImageError(fileKey, `is ${metadata.format}, not an accepted image format (JPEG, PNG, WebP, GIF, HEIF/AVIF, TIFF)`);
  }
  const pixels = (metadata.width ?? 0) * (metadata.height ?? 0);
  if (pixels > maxPixels) {
    throw new UnprocessableImageError(fileKey, `declares ${metadata.width}×${metadata.height} pixels, over the limit of ${maxPixels} pixels`);
  }
  const image = sharp(input, { limitInputPixels: maxPixels, failOn: 'error' });
  try {
    // No withMetadata/keepExif: sharp writes no EXIF, XMP or ICC, so GPS and camera data go.
    const { data, info } = await image
      .rotate()
      .resize(PROFILE_PICTURE_SIZE, PROFILE_PICTURE_SIZE, { fit: 'cover' })
      .webp({ quality: WEBP_QUALITY })
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (error) {
    throw new UnprocessableImageError(fileKey, `cannot be decoded (${error instanceof Error ? error.message : String(error)})`);
  }
}

function tooLarge(fileKey: string, size: number, limit: number): UnprocessableImageError {
  return new UnprocessableImageError(fileKey, `is ${formatBytes(size)}, over the limit of ${formatBytes(limit)}`);
}

export default optimizeProfilePicture;
