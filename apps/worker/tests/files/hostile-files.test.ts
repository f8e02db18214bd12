import { readdir, readFile } from 'node:fs/promises';
import { waitFor } from '@ceres/testing';
import { UnrecoverableError } from 'bullmq';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileSandbox } from '../../src/deps/file-sandbox';
import { HostileFileError } from '../../src/files/errors';
import { DEFAULT_FILE_LIMITS } from '../../src/files/limits';
import { optimizeProfilePicture } from '../../src/processors/files/optimize-profile-picture';
import { validateCv, type ValidateCvDeps } from '../../src/processors/files/validate-cv';
import { makePdf } from './fixtures';
import { attemptContext, fileSandbox, makeJob, makeUploads, rejection, type Uploads } from './helpers';
import { declarePngSize, makeFlateBombPdf, makePageTreeBomb, makeZipBombDocx } from './hostile';

// Each bomb is built here, small on disk and ruinous to a naive parser. Each must fail its job
// at once (no retry) with a reason that says what it is, well within the 15 s the issue allows.
let uploads: Uploads;
let deps: ValidateCvDeps;

beforeAll(async () => {
  uploads = await makeUploads();
  deps = { fileStore: uploads.store, fileSandbox, limits: { cvMaxBytes: DEFAULT_FILE_LIMITS.cvMaxBytes, cvMaxPages: 10 } };
});

afterAll(async () => {
  await uploads.remove();
});

async function failure(fileKey: string, overrides: Partial<ValidateCvDeps> = {}) {
  const { job } = makeJob('validate-cv', { userId: 'user-1', fileKey });
  const started = Date.now();
  const error = await rejection(validateCv(job, { ...deps, ...overrides }, attemptContext()));
  return { error, ms: Date.now() - started };
}

describe('hostile files', () => {
  it('fails a PDF page-tree bomb (2^27 pages in 3 KB) at once: "PDF page tree too deep"', async () => {
    const bomb = makePageTreeBomb(27);
    expect(bomb.length).toBeLessThan(4096);
    const { error, ms } = await failure(await uploads.put('cvs/user-1/page-tree-bomb.pdf', bomb));
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/PDF page tree too deep/);
    expect((error as Error & { cause?: unknown }).cause).toBeInstanceOf(HostileFileError);
    expect(ms).toBeLessThan(15_000);
  });

  it('fails a flate bomb (a 3 MB object stream that inflates to 3 GiB): "expands beyond 80 MiB"', async () => {
    const bomb = makeFlateBombPdf(3 * 1024);
    expect(bomb.length).toBeLessThan(DEFAULT_FILE_LIMITS.cvMaxBytes);
    const { error, ms } = await failure(await uploads.put('cvs/user-1/flate-bomb.pdf', bomb));
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/the PDF expands beyond 80 MiB when decompressed/);
    expect(ms).toBeLessThan(15_000);
  });

  it('fails a ZIP-bomb DOCX (2 GiB of zeros in 2 MB): "expands beyond 80 MiB"', async () => {
    const bomb = makeZipBombDocx();
    expect(bomb.length).toBeLessThan(DEFAULT_FILE_LIMITS.cvMaxBytes);
    const { error, ms } = await failure(await uploads.put('cvs/user-1/zip-bomb.docx', bomb));
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/the DOCX expands beyond 80 MiB when decompressed/);
    expect(ms).toBeLessThan(15_000);
  });

  it('still accepts a PDF with object streams, within the expansion budget', async () => {
    const pdf = await uploads.put('cvs/user-1/fine.pdf', await makePdf(3, { useObjectStreams: true }));
    const { job } = makeJob('validate-cv', { userId: 'user-1', fileKey: pdf });
    expect(await validateCv(job, deps, attemptContext())).toEqual({ valid: true, type: 'pdf', pages: 3, problems: [] });
  });

  it('kills an inspection at its wall-clock limit and fails the job with that reason', async () => {
    // The clock starts once the child has loaded its modules; with a 64 MiB CV limit the
    // expansion budget is 1 GiB, which no machine inflates in 100 ms.
    const slow = createFileSandbox({ timeoutMs: 100 });
    const key = await uploads.put('cvs/user-1/slow-bomb.pdf', makeFlateBombPdf(3 * 1024));
    const { error, ms } = await failure(key, { fileSandbox: slow, limits: { cvMaxBytes: 64 * 1024 * 1024, cvMaxPages: 10 } });
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/the CV took longer than 100 ms to inspect/);
    expect(ms).toBeLessThan(15_000);
  });

  it('kills an inspection over its memory cap and fails the job with that reason', async () => {
    // A 1 GiB expansion budget (64 MiB CV limit) under a 320 MiB memory cap: the child's
    // resident memory crosses the cap while it inflates, and the parent kills it.
    const capped = createFileSandbox({ timeoutMs: 10_000, maxMemoryBytes: 320 * 1024 * 1024 });
    const key = await uploads.put('cvs/user-1/memory-bomb.pdf', makeFlateBombPdf(3 * 1024));
    const { error, ms } = await failure(key, { fileSandbox: capped, limits: { cvMaxBytes: 64 * 1024 * 1024, cvMaxPages: 10 } });
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/the CV expands beyond 320 MiB of memory while inspected/);
    expect(ms).toBeLessThan(15_000);
  });

  it('decodes pictures in the sandbox too: a pixel bomb is refused before decoding', async () => {
    // 20,000 × 20,000 declared in a PNG of a few bytes.
    const bomb = declarePngSize(
      await sharp({ create: { width: 1, height: 1, channels: 3, background: '#000' } })
        .png()
        .toBuffer(),
      20_000,
      20_000,
    );
    const key = await uploads.put('avatars/user-1/bomb.png', bomb);
    const { job } = makeJob('optimize-profile-picture', { userId: 'user-1', fileKey: key });
    const started = Date.now();
    const error = await rejection(
      optimizeProfilePicture(job, { fileStore: uploads.store, fileSandbox, limits: DEFAULT_FILE_LIMITS }, attemptContext()),
    );
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/declares 20000×20000 pixels, over the limit/);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('runs the child below the worker: nice 10', async () => {
    /** Nice values of this process's sandbox children, from /proc (fields after the command name). */
    const sandboxNice = async (): Promise<number[]> => {
      const found: number[] = [];
      for (const pid of (await readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
        try {
          const cmdline = await readFile(`/proc/${pid}/cmdline`, 'latin1');
          if (!cmdline.includes('sandbox-child')) continue;
          const fields = (await readFile(`/proc/${pid}/stat`, 'latin1')).replace(/^.*\) /, '').split(' ');
          if (Number(fields[1]) === process.pid) found.push(Number(fields[16]));
        } catch {
          // The process ended meanwhile.
        }
      }
      return found;
    };
    const key = await uploads.put('cvs/user-1/nice-bomb.pdf', makeFlateBombPdf(3 * 1024));
    const running = failure(key, { limits: { cvMaxBytes: 64 * 1024 * 1024, cvMaxPages: 10 } });
    const nice = await waitFor(
      async () => {
        const values = await sandboxNice();
        return values.length > 0 ? values : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'a sandbox child' },
    );
    expect(nice).toEqual([10]);
    await running;
  });
});
