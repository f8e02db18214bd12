import { mkdir, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UnrecoverableError } from 'bullmq';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnprocessableImageError, UnsafeFileKeyError } from '../../src/files/errors';
import { DEFAULT_FILE_LIMITS } from '../../src/files/limits';
import { optimizeProfilePicture, type OptimizeProfilePictureDeps } from '../../src/processors/files/optimize-profile-picture';
import { BLUE, makePdf, makePng, makeSidewaysJpeg, RED } from './fixtures';
import { attemptContext, fileSandbox, makeJob, makeUploads, rejection, type Uploads } from './helpers';

let uploads: Uploads;
let deps: OptimizeProfilePictureDeps;

beforeAll(async () => {
  uploads = await makeUploads();
  deps = {
    fileStore: uploads.store,
    fileSandbox,
    limits: { pictureMaxBytes: DEFAULT_FILE_LIMITS.pictureMaxBytes, pictureMaxPixels: DEFAULT_FILE_LIMITS.pictureMaxPixels },
  };
});

afterAll(async () => {
  await uploads.remove();
});

function optimize(fileKey: string, overrides: Partial<OptimizeProfilePictureDeps> & { signal?: AbortSignal } = {}) {
  const { job, progress } = makeJob('optimize-profile-picture', { userId: 'user-1', fileKey });
  const { signal, ...rest } = overrides;
  return { run: optimizeProfilePicture(job, { ...deps, ...rest }, attemptContext(signal)), progress };
}

/** The RGB of one pixel of a decoded image. */
async function pixel(file: Buffer, x: number, y: number) {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const offset = (y * info.width + x) * info.channels;
  return { r: data[offset] ?? -1, g: data[offset + 1] ?? -1, b: data[offset + 2] ?? -1 };
}

function near(actual: { r: number; g: number; b: number }, expected: { r: number; g: number; b: number }) {
  return Math.abs(actual.r - expected.r) < 40 && Math.abs(actual.g - expected.g) < 40 && Math.abs(actual.b - expected.b) < 40;
}

describe('files/optimize-profile-picture', () => {
  it('makes an upright 512×512 WebP without EXIF from a sideways JPEG, beside the source', async () => {
    const source = await makeSidewaysJpeg();
    expect((await sharp(source).metadata()).orientation).toBe(6);
    const key = await uploads.put('avatars/user-1/me.jpg', source);

    const { run, progress } = optimize(key);
    const result = await run;

    expect(result.outputKey).toBe('avatars/user-1/me.webp');
    expect(result).toMatchObject({ width: 512, height: 512, bytesBefore: source.length });
    const output = await readFile(path.join(uploads.dir, result.outputKey));
    expect(result.bytesAfter).toBe(output.length);

    const metadata = await sharp(output).metadata();
    expect(metadata).toMatchObject({ format: 'webp', width: 512, height: 512 });
    expect(metadata.exif).toBeUndefined();
    expect(metadata.orientation).toBeUndefined();
    expect(metadata.xmp).toBeUndefined();
    expect(metadata.icc).toBeUndefined();
    expect(output.includes('Jane Applicant')).toBe(false);

    // Upright, the picture is red above blue. Left as stored it would be red left, blue right.
    expect(near(await pixel(output, 100, 100), RED)).toBe(true);
    expect(near(await pixel(output, 412, 100), RED)).toBe(true);
    expect(near(await pixel(output, 100, 412), BLUE)).toBe(true);
    expect(near(await pixel(output, 412, 412), BLUE)).toBe(true);

    expect(progress).toEqual([10, 60, 100]);
    // Written through a temporary name; nothing of it is left behind, the source is untouched.
    expect((await readdir(path.join(uploads.dir, 'avatars/user-1'))).sort()).toEqual(['me.jpg', 'me.webp']);
    expect((await readFile(path.join(uploads.dir, key))).equals(source)).toBe(true);
  });

  it('replaces an earlier output atomically when run again', async () => {
    const key = await uploads.put('avatars/user-2/photo.png', await makePng(800, 600));
    const first = await optimize(key).run;
    const before = await stat(path.join(uploads.dir, first.outputKey));
    const second = await optimize(key).run;
    const after = await stat(path.join(uploads.dir, second.outputKey));
    expect(second).toEqual(first);
    // A new file renamed over the old one, not the old one rewritten in place.
    expect(after.ino).not.toBe(before.ino);
  });

  it('fails at once without retry for a file that is not an image', async () => {
    const text = await uploads.put('avatars/user-3/me.jpg', 'this is not a picture at all');
    const error = await rejection(optimize(text).run);
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/is not an image/);
    expect((error as Error & { cause?: unknown }).cause).toBeInstanceOf(UnprocessableImageError);

    const pdf = await uploads.put('avatars/user-3/me.png', await makePdf(1));
    expect(await rejection(optimize(pdf).run)).toBeInstanceOf(UnrecoverableError);

    const svg = await uploads.put('avatars/user-3/me.svg', '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>');
    const svgError = await rejection(optimize(svg).run);
    expect(svgError).toBeInstanceOf(UnrecoverableError);
    expect(svgError.message).toMatch(/is svg, not an accepted image format/);

    expect((await readdir(path.join(uploads.dir, 'avatars/user-3'))).sort()).toEqual(['me.jpg', 'me.png', 'me.svg']);
  });

  it('refuses an image over the pixel limit before decoding it', async () => {
    // 8000 × 6000 of one colour: a small PNG that would decode to 144 MB.
    const bomb = await sharp({ create: { width: 8000, height: 6000, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const key = await uploads.put('avatars/user-4/bomb.png', bomb);
    const error = await rejection(optimize(key).run);
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/8000×6000 pixels, over the limit of 40000000 pixels/);
    expect(await readdir(path.join(uploads.dir, 'avatars/user-4'))).toEqual(['bomb.png']);
  });

  it('refuses a file over the byte limit without decoding it', async () => {
    const png = await makePng();
    const key = await uploads.put('avatars/user-5/me.png', png);
    const error = await rejection(optimize(key, { limits: { ...deps.limits, pictureMaxBytes: png.length - 1 } }).run);
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/over the limit of/);
  });

  it('stops between steps when the signal is aborted, writing nothing', async () => {
    const key = await uploads.put('avatars/user-6/me.png', await makePng());
    const controller = new AbortController();
    controller.abort(new Error('job timed out'));
    const error = await rejection(optimize(key, { signal: controller.signal }).run);
    expect(error.message).toBe('job timed out');
    expect(error).not.toBeInstanceOf(UnrecoverableError);
    expect(await readdir(path.join(uploads.dir, 'avatars/user-6'))).toEqual(['me.png']);
  });

  it.each([
    ['../x', /"\.\." segment/],
    ['a/../../x', /"\.\." segment/],
    ['/etc/passwd', /absolute path/],
  ])('fails at once without retry for the key %s', async (fileKey, reason) => {
    const error = await rejection(optimize(fileKey).run);
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(reason);
    expect((error as Error & { cause?: unknown }).cause).toBeInstanceOf(UnsafeFileKeyError);
  });

  it('fails at once for symbolic links leading outside UPLOADS_DIR and writes nothing there', async () => {
    const outsidePicture = path.join(uploads.outside, 'picture.png');
    await writeFile(outsidePicture, await makePng());
    await mkdir(path.join(uploads.dir, 'avatars/user-7'), { recursive: true });
    await symlink(outsidePicture, path.join(uploads.dir, 'avatars/user-7/me.png'));
    await symlink(uploads.outside, path.join(uploads.dir, 'avatars/user-7/folder'));

    for (const key of ['avatars/user-7/me.png', 'avatars/user-7/folder/picture.png']) {
      const error = await rejection(optimize(key).run);
      expect(error, key).toBeInstanceOf(UnrecoverableError);
      expect(error.message).toMatch(/outside UPLOADS_DIR through a symbolic link/);
    }
    expect(await readdir(uploads.outside)).toEqual(['picture.png']);
  });
});
