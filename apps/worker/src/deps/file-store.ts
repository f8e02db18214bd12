import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { open, realpath, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { FileNotFoundError, UnsafeFileKeyError, UploadsDirUnavailableError } from '../files/errors';

/** A regular file under `UPLOADS_DIR`. */
export interface StoredFile {
  /** The key relative to `UPLOADS_DIR`, as given (or, for a written file, as derived). */
  key: string;
  /** The real absolute path, symbolic links resolved. */
  path: string;
  /** Size in bytes. */
  size: number;
}

export interface ReadOptions {
  /**
   * Read at most this many bytes from the start of the file. Pass `limit + 1` to tell "exactly at
   * the limit" from "over it" without trusting an earlier `stat`.
   * @defaultValue the whole file
   */
  maxBytes?: number;
}

/**
 * The uploads folder, seen only through keys relative to it. Every method checks the key first
 * and throws {@link UnsafeFileKeyError} when it is absolute, has a `..` segment, a NUL or a
 * backslash, or resolves (symbolic links followed, parents included) outside `UPLOADS_DIR`;
 * {@link FileNotFoundError} when nothing regular is there; {@link UploadsDirUnavailableError}
 * when `UPLOADS_DIR` itself cannot be resolved.
 */
export interface FileStore {
  /** `UPLOADS_DIR` made absolute (not yet resolved: it may be a symbolic link or not exist yet). */
  readonly root: string;
  /** The real absolute path of the regular file `fileKey` names. */
  resolve(fileKey: string): Promise<string>;
  stat(fileKey: string): Promise<StoredFile>;
  read(fileKey: string, options?: ReadOptions): Promise<Buffer>;
  /**
   * Writes `data` as `<sourceKey without its extension><extension>` in the source's folder,
   * atomically: a temporary file in the same folder, flushed, then renamed over the target. A
   * reader sees the old file or the new one, never half of one. A target equal to the source
   * replaces it.
   */
  writeBeside(sourceKey: string, extension: string, data: Uint8Array): Promise<StoredFile>;
}

/**
 * Builds the store once at startup. The root is resolved at each call rather than here, so a
 * worker can start before the uploads volume is mounted and a missing folder only delays jobs.
 */
export function createFileStore(uploadsDir: string): FileStore {
  const root = path.resolve(uploadsDir);

  async function realRoot(): Promise<string> {
    let real: string;
    try {
      real = await realpath(root);
    } catch (error) {
      throw new UploadsDirUnavailableError(root, errorCode(error) ?? String(error));
    }
    const info = await stat(real);
    if (!info.isDirectory()) throw new UploadsDirUnavailableError(root, 'not a directory');
    return real;
  }

  async function resolve(fileKey: string): Promise<string> {
    checkKeyShape(fileKey);
    const rootReal = await realRoot();
    // The key is relative and free of `..`, so only a symbolic link can lead elsewhere.
    const lexical = path.join(rootReal, fileKey);
    let real: string;
    try {
      real = await realpath(lexical);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ELOOP') throw new UnsafeFileKeyError(fileKey, 'has a symbolic link loop');
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        // A missing file behind a folder link that leaves UPLOADS_DIR is still an escape attempt.
        await assertExistingAncestorInside(rootReal, lexical, fileKey);
        throw new FileNotFoundError(fileKey);
      }
      throw error;
    }
    if (!isInside(rootReal, real)) {
      throw new UnsafeFileKeyError(fileKey, 'resolves outside UPLOADS_DIR through a symbolic link');
    }
    const info = await stat(real);
    if (!info.isFile()) throw new FileNotFoundError(fileKey, 'not a regular file');
    return real;
  }

  async function statFile(fileKey: string): Promise<StoredFile> {
    const real = await resolve(fileKey);
    const info = await stat(real);
    return { key: fileKey, path: real, size: info.size };
  }

  async function read(fileKey: string, options: ReadOptions = {}): Promise<Buffer> {
    const real = await resolve(fileKey);
    // O_NOFOLLOW: if the resolved file was swapped for a link since, refuse rather than follow.
    const handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const { size } = await handle.stat();
      const wanted = Math.min(size, options.maxBytes ?? Number.POSITIVE_INFINITY);
      const buffer = Buffer.alloc(wanted);
      let filled = 0;
      while (filled < wanted) {
        const { bytesRead } = await handle.read(buffer, filled, wanted - filled, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return filled === wanted ? buffer : buffer.subarray(0, filled);
    } finally {
      await handle.close();
    }
  }

  async function writeBeside(sourceKey: string, extension: string, data: Uint8Array): Promise<StoredFile> {
    checkKeyShape(sourceKey);
    if (!/^\.[A-Za-z0-9]+$/.test(extension)) throw new Error(`invalid extension ${JSON.stringify(extension)}`);
    const parsed = path.posix.parse(sourceKey);
    const key = path.posix.join(parsed.dir, `${parsed.name}${extension}`);
    checkKeyShape(key);

    const rootReal = await realRoot();
    const lexicalDir = path.join(rootReal, parsed.dir);
    let dir: string;
    try {
      dir = await realpath(lexicalDir);
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        await assertExistingAncestorInside(rootReal, lexicalDir, sourceKey);
        throw new FileNotFoundError(parsed.dir || '.');
      }
      throw error;
    }
    if (!isInside(rootReal, dir)) {
      throw new UnsafeFileKeyError(sourceKey, 'its folder resolves outside UPLOADS_DIR through a symbolic link');
    }

    const target = path.join(dir, `${parsed.name}${extension}`);
    // A dot name in the same folder: invisible to most listings and on the same file system,
    // which rename needs to be atomic.
    const temp = path.join(dir, `.${parsed.name}${extension}.${randomUUID()}.tmp`);
    try {
      const handle = await open(temp, 'wx', 0o644);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      // rename replaces a symbolic link at the target itself, never the file it points to.
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    return { key, path: target, size: data.byteLength };
  }

  return { root, resolve, stat: statFile, read, writeBeside };
}

function checkKeyShape(fileKey: string): void {
  if (typeof fileKey !== 'string' || fileKey.length === 0) throw new UnsafeFileKeyError(String(fileKey), 'is empty');
  if (fileKey.includes('\0')) throw new UnsafeFileKeyError(fileKey, 'contains a NUL character');
  if (fileKey.includes('\\')) throw new UnsafeFileKeyError(fileKey, 'contains a backslash');
  if (path.posix.isAbsolute(fileKey) || path.isAbsolute(fileKey)) {
    throw new UnsafeFileKeyError(fileKey, 'is an absolute path');
  }
  if (fileKey.split('/').includes('..')) throw new UnsafeFileKeyError(fileKey, 'has a ".." segment');
}

/** True when `candidate` is `root` or below it; both must be real paths. */
function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

/** Walks up from a missing path to the first ancestor that exists and checks where it really is. */
async function assertExistingAncestorInside(rootReal: string, missing: string, fileKey: string): Promise<void> {
  let current = path.dirname(missing);
  while (current.length >= rootReal.length) {
    try {
      const real = await realpath(current);
      if (!isInside(rootReal, real)) {
        throw new UnsafeFileKeyError(fileKey, 'resolves outside UPLOADS_DIR through a symbolic link');
      }
      return;
    } catch (error) {
      if (error instanceof UnsafeFileKeyError) throw error;
      const code = errorCode(error);
      if (code === 'ELOOP') throw new UnsafeFileKeyError(fileKey, 'has a symbolic link loop');
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw error;
    }
    current = path.dirname(current);
  }
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}
