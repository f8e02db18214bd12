import sharp, { type Metadata } from 'sharp';
import { UnprocessableImageError } from './errors';

/** Side of the square profile picture, in pixels. */
export const PROFILE_PICTURE_SIZE = 512;
/** WebP quality: visually clean for faces at 512 px, a few tens of KB. */
const WEBP_QUALITY = 82;
/**
 * Raster formats a camera or an editor produces. SVG is left out on purpose: it is a document
 * that can reference other files, not pixels.
 */
const ACCEPTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'heif', 'avif', 'tiff']);

/** Decodes, orients, crops and encodes the picture. Runs inside the file sandbox. */
export async function toProfileWebp(
  fileKey: string,
  input: Uint8Array,
  maxPixels: number,
): Promise<{ data: Uint8Array; width: number; height: number }> {
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
    throw new UnprocessableImageError(
      fileKey,
      `is ${metadata.format}, not an accepted image format (JPEG, PNG, WebP, GIF, HEIF/AVIF, TIFF)`,
    );
  }
  const pixels = (metadata.width ?? 0) * (metadata.height ?? 0);
  if (pixels > maxPixels) {
    throw new UnprocessableImageError(
      fileKey,
      `declares ${metadata.width}×${metadata.height} pixels, over the limit of ${maxPixels} pixels`,
    );
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
