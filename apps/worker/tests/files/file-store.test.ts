import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/deps/file-store';
import { FileNotFoundError, UnsafeFileKeyError, UploadsDirUnavailableError } from '../../src/files/errors';
import { makeUploads, rejection, type Uploads } from './helpers';

let uploads: Uploads;

beforeAll(async () => {
  uploads = await makeUploads();
  await uploads.put('docs/cv.pdf', '%PDF-1.7 hello');
  await writeFile(path.join(uploads.outside, 'secret.txt'), 'outside');
});

afterAll(async () => {
  await uploads.remove();
});

describe('FileStore', () => {
  it('resolves a plain key to the real path and reads it, whole or capped', async () => {
    const real = await uploads.store.resolve('docs/cv.pdf');
    expect(real.endsWith(path.join('uploads', 'docs', 'cv.pdf'))).toBe(true);
    expect(await uploads.store.stat('docs/cv.pdf')).toEqual({ key: 'docs/cv.pdf', path: real, size: 14 });
    expect((await uploads.store.read('docs/cv.pdf')).toString()).toBe('%PDF-1.7 hello');
    expect((await uploads.store.read('docs/cv.pdf', { maxBytes: 4 })).toString()).toBe('%PDF');
    // `.` segments and doubled slashes are harmless spellings.
    expect(await uploads.store.resolve('./docs//cv.pdf')).toBe(real);
  });

  it.each([
    ['../x', 'has a ".." segment'],
    ['a/../../x', 'has a ".." segment'],
    ['docs/..', 'has a ".." segment'],
    ['/etc/passwd', 'is an absolute path'],
    ['docs\\cv.pdf', 'contains a backslash'],
    ['docs/cv.pdf\0.png', 'contains a NUL character'],
    ['', 'is empty'],
  ])('rejects the key %j: %s', async (key, reason) => {
    const error = await rejection(uploads.store.resolve(key));
    expect(error).toBeInstanceOf(UnsafeFileKeyError);
    expect((error as UnsafeFileKeyError).reason).toBe(reason);
  });

  it('follows symbolic links: inside is fine, outside is refused, for files and folders', async () => {
    await symlink(path.join(uploads.dir, 'docs/cv.pdf'), path.join(uploads.dir, 'alias.pdf'));
    expect(await uploads.store.resolve('alias.pdf')).toBe(await uploads.store.resolve('docs/cv.pdf'));

    await symlink(path.join(uploads.outside, 'secret.txt'), path.join(uploads.dir, 'escape.txt'));
    await symlink(uploads.outside, path.join(uploads.dir, 'out'));
    await symlink('../../outside', path.join(uploads.dir, 'docs/relative-out'));
    for (const key of ['escape.txt', 'out/secret.txt', 'docs/relative-out/secret.txt', 'out/missing.txt', 'out/deeper/missing.txt']) {
      const error = await rejection(uploads.store.read(key));
      expect(error, key).toBeInstanceOf(UnsafeFileKeyError);
      expect(error.message).toMatch(/outside UPLOADS_DIR through a symbolic link/);
    }
  });

  it('refuses a symbolic link loop', async () => {
    await symlink('loop-b', path.join(uploads.dir, 'loop-a'));
    await symlink('loop-a', path.join(uploads.dir, 'loop-b'));
    expect(await rejection(uploads.store.resolve('loop-a'))).toBeInstanceOf(UnsafeFileKeyError);
  });

  it('tells a missing file and a folder apart from unsafe keys', async () => {
    const missing = await rejection(uploads.store.resolve('docs/none.pdf'));
    expect(missing).toBeInstanceOf(FileNotFoundError);
    expect((missing as FileNotFoundError).reason).toBe('missing');
    expect(await rejection(uploads.store.resolve('nowhere/none.pdf'))).toBeInstanceOf(FileNotFoundError);
    expect(await rejection(uploads.store.resolve('docs/cv.pdf/inside'))).toBeInstanceOf(FileNotFoundError);
    const folder = await rejection(uploads.store.resolve('docs'));
    expect((folder as FileNotFoundError).reason).toBe('not a regular file');
  });

  it('accepts an UPLOADS_DIR that is itself a symbolic link', async () => {
    const linkedRoot = path.join(uploads.base, 'uploads-link');
    await symlink(uploads.dir, linkedRoot);
    const store = createFileStore(linkedRoot);
    expect((await store.read('docs/cv.pdf')).toString()).toBe('%PDF-1.7 hello');
    expect(await rejection(store.read('out/secret.txt'))).toBeInstanceOf(UnsafeFileKeyError);
  });

  it('reports an UPLOADS_DIR that does not exist as unavailable, not as a bad key', async () => {
    const store = createFileStore(path.join(uploads.base, 'not-there'));
    expect(await rejection(store.resolve('docs/cv.pdf'))).toBeInstanceOf(UploadsDirUnavailableError);
  });

  it('writes beside the source under a new extension, leaving no temporary file', async () => {
    const written = await uploads.store.writeBeside('docs/cv.pdf', '.webp', Buffer.from('webp bytes'));
    expect(written).toEqual({
      key: 'docs/cv.webp',
      path: path.join(path.dirname(await uploads.store.resolve('docs/cv.pdf')), 'cv.webp'),
      size: 10,
    });
    expect((await readFile(written.path)).toString()).toBe('webp bytes');
    await uploads.store.writeBeside('docs/cv.pdf', '.webp', Buffer.from('second'));
    expect((await readFile(written.path)).toString()).toBe('second');
    expect((await readdir(path.join(uploads.dir, 'docs'))).filter((name) => name.startsWith('.'))).toEqual([]);

    await uploads.put('noext', 'x');
    expect((await uploads.store.writeBeside('noext', '.webp', Buffer.from('y'))).key).toBe('noext.webp');
  });

  it('replaces a symbolic link at the target instead of writing through it', async () => {
    await mkdir(path.join(uploads.dir, 'pics'));
    await uploads.put('pics/me.png', 'png');
    await symlink(path.join(uploads.outside, 'secret.txt'), path.join(uploads.dir, 'pics/me.webp'));
    await uploads.store.writeBeside('pics/me.png', '.webp', Buffer.from('new'));
    expect(await readFile(path.join(uploads.outside, 'secret.txt'), 'utf8')).toBe('outside');
    expect(await readFile(path.join(uploads.dir, 'pics/me.webp'), 'utf8')).toBe('new');
  });

  it('refuses to write into a folder that leads outside', async () => {
    const error = await rejection(uploads.store.writeBeside('out/secret.txt', '.webp', Buffer.from('x')));
    expect(error).toBeInstanceOf(UnsafeFileKeyError);
    expect(await readdir(uploads.outside)).toEqual(['secret.txt']);
    expect(await rejection(uploads.store.writeBeside('../x.png', '.webp', Buffer.from('x')))).toBeInstanceOf(UnsafeFileKeyError);
  });
});
