import { Type } from '@sinclair/typebox';

/** The bounds the file jobs enforce; built once from the environment by {@link fileLimitsFromEnv}. */
export interface FileLimits {
  /**
   * Largest CV accepted, in bytes (`CV_MAX_BYTES`).
   * @defaultValue 5242880 (5 MiB)
   */
  cvMaxBytes: number;
  /**
   * Most pages a PDF CV may have (`CV_MAX_PAGES`).
   * @defaultValue 10
   */
  cvMaxPages: number;
  /**
   * Largest profile picture read, in bytes (`PROFILE_PICTURE_MAX_BYTES`); bounds memory per job.
   * @defaultValue 20971520 (20 MiB)
   */
  pictureMaxBytes: number;
  /**
   * Most pixels (width × height) a profile picture may declare before it is decoded
   * (`PROFILE_PICTURE_MAX_PIXELS`): the guard against decompression bombs. 40 MP is above any
   * phone camera (a 48 MP sensor saves 12 MP by default) and decodes in about 160 MB of RGBA.
   * @defaultValue 40000000
   */
  pictureMaxPixels: number;
}

export const DEFAULT_FILE_LIMITS: Readonly<FileLimits> = {
  cvMaxBytes: 5 * 1024 * 1024,
  cvMaxPages: 10,
  pictureMaxBytes: 20 * 1024 * 1024,
  pictureMaxPixels: 40_000_000,
};

/**
 * The environment variables of the file jobs, for the worker's `parseEnv` schema
 * (`Type.Object({ ...otherVariables, ...FILES_ENV })`).
 */
export const FILES_ENV = {
  // The local stack keeps uploads beside its other data in var/; a missing folder fails the file
  // jobs (retried), never startup, so a worker may start before the volume is mounted.
  UPLOADS_DIR: Type.String({ default: 'var/uploads', minLength: 1, description: 'Folder the file keys are relative to' }),
  CV_MAX_BYTES: Type.Integer({ minimum: 1, default: DEFAULT_FILE_LIMITS.cvMaxBytes, description: 'Largest CV' }),
  CV_MAX_PAGES: Type.Integer({ minimum: 1, default: DEFAULT_FILE_LIMITS.cvMaxPages, description: 'Most pages of a CV' }),
  PROFILE_PICTURE_MAX_BYTES: Type.Integer({
    minimum: 1,
    default: DEFAULT_FILE_LIMITS.pictureMaxBytes,
    description: 'Largest profile picture',
  }),
  PROFILE_PICTURE_MAX_PIXELS: Type.Integer({
    minimum: 1,
    default: DEFAULT_FILE_LIMITS.pictureMaxPixels,
    description: 'Most pixels of a profile picture',
  }),
};

/** Maps the parsed {@link FILES_ENV} variables to {@link FileLimits}. */
export function fileLimitsFromEnv(env: {
  CV_MAX_BYTES: number;
  CV_MAX_PAGES: number;
  PROFILE_PICTURE_MAX_BYTES: number;
  PROFILE_PICTURE_MAX_PIXELS: number;
}): FileLimits {
  return {
    cvMaxBytes: env.CV_MAX_BYTES,
    cvMaxPages: env.CV_MAX_PAGES,
    pictureMaxBytes: env.PROFILE_PICTURE_MAX_BYTES,
    pictureMaxPixels: env.PROFILE_PICTURE_MAX_PIXELS,
  };
}
