import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileStore } from '../../src/deps/file-store';
import { UnsafeFileKeyError } from '../../src/files/errors';
import { DEFAULT_FILE_LIMITS } from '../../src/files/limits';
import { validateCv, type ValidateCvDeps } from '../../src/processors/files/validate-cv';
import { makeDocx, makeEncryptedPdf, makePdf, makePng, makeZip } from './fixtures';
import { attemptContext, fileSandbox, makeJob, makeUploads, rejection, type Uploads } from './helpers';

let uploads: Uploads;
let deps: ValidateCvDeps;

beforeAll(async () => {
  uploads = await makeUploads();
  deps = { fileStore: uploads.store, fileSandbox, limits: { cvMaxBytes: DEFAULT_FILE_LIMITS.cvMaxBytes, cvMaxPages: 10 } };
});

afterAll(async () => {
  await uploads.remove();
});

async function check(fileKey: string, overrides: Partial<ValidateCvDeps> = {}) {
  const { job, progress } = makeJob('validate-cv', { userId: 'user-1', fileKey });
  const result = await validateCv(job, { ...deps, ...overrides }, attemptContext());
  return { result, progress };
}

describe('files/validate-cv', () => {
  it('accepts a two-page PDF and reports progress up to 100', async () => {
    const key = await uploads.put('cvs/user-1/cv.pdf', await makePdf(2));
    const { result, progress } = await check(key);
    expect(result).toEqual({ valid: true, type: 'pdf', pages: 2, problems: [] });
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.at(-1)).toBe(100);
    expect([...progress].sort((a, b) => Number(a) - Number(b))).toEqual(progress);
  });

  it('accepts a PDF written with object streams (PDF 1.5 cross-reference streams)', async () => {
    const key = await uploads.put('cvs/user-1/cv-objstm.pdf', await makePdf(3, { useObjectStreams: true }));
    expect((await check(key)).result).toEqual({ valid: true, type: 'pdf', pages: 3, problems: [] });
  });

  it('decides by the content, not the extension: a PDF named .docx is a PDF', async () => {
    const key = await uploads.put('cvs/user-1/looks-like.docx', await makePdf(1));
    expect((await check(key)).result).toEqual({ valid: true, type: 'pdf', pages: 1, problems: [] });
  });

  it('rejects an encrypted PDF and says so', async () => {
    const key = await uploads.put('cvs/user-1/locked.pdf', await makeEncryptedPdf());
    const { result } = await check(key);
    expect(result.valid).toBe(false);
    expect(result.type).toBe('pdf');
    expect(result.problems).toEqual([expect.stringMatching(/encrypted/)]);
  });

  it('rejects a PNG renamed .pdf as not a CV type', async () => {
    const key = await uploads.put('cvs/user-1/photo.pdf', await makePng());
    const { result, progress } = await check(key);
    expect(result).toEqual({ valid: false, type: 'unknown', problems: [expect.stringMatching(/image\/png.*not a PDF or a DOCX/)] });
    expect(progress.at(-1)).toBe(100);
  });

  it('rejects a plain text file as an unrecognised type', async () => {
    const key = await uploads.put('cvs/user-1/cv.pdf.txt', 'Jane Applicant, 10 years of experience');
    const { result } = await check(key);
    expect(result).toEqual({ valid: false, type: 'unknown', problems: [expect.stringMatching(/not a recognised file type/)] });
  });

  it('rejects an empty file', async () => {
    const key = await uploads.put('cvs/user-1/empty.pdf', '');
    expect((await check(key)).result).toEqual({ valid: false, type: 'unknown', problems: ['the file is empty'] });
  });

  it('rejects a file over the configured size limit, still naming its type', async () => {
    const pdf = await makePdf(1);
    const key = await uploads.put('cvs/user-1/big.pdf', pdf);
    const { result } = await check(key, { limits: { cvMaxBytes: pdf.length - 1, cvMaxPages: 10 } });
    expect(result).toEqual({
      valid: false,
      type: 'pdf',
      problems: [`the file is ${pdf.length} bytes, over the limit of ${pdf.length - 1} bytes`],
    });
    // Exactly at the limit is allowed.
    expect((await check(key, { limits: { cvMaxBytes: pdf.length, cvMaxPages: 10 } })).result.valid).toBe(true);
  });

  it('rejects a PDF with more pages than the limit, and one with none', async () => {
    const many = await uploads.put('cvs/user-1/long.pdf', await makePdf(12));
    expect((await check(many)).result).toEqual({
      valid: false,
      type: 'pdf',
      pages: 12,
      problems: ['the PDF has 12 pages, more than the limit of 10'],
    });
    expect((await check(many, { limits: { cvMaxBytes: 1_000_000, cvMaxPages: 12 } })).result.valid).toBe(true);

    const none = await uploads.put('cvs/user-1/blank.pdf', await makePdf(0));
    expect((await check(none)).result).toEqual({ valid: false, type: 'pdf', pages: 0, problems: ['the PDF has no pages'] });
  });

  it('rejects a PDF that does not parse', async () => {
    const pdf = await makePdf(2);
    const key = await uploads.put('cvs/user-1/truncated.pdf', pdf.subarray(0, Math.floor(pdf.length / 3)));
    const { result } = await check(key);
    expect(result.valid).toBe(false);
    expect(result.type).toBe('pdf');
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatch(/cannot be parsed|no readable page tree/);
  });

  it('accepts a minimal but complete DOCX', async () => {
    const key = await uploads.put('cvs/user-1/cv.docx', await makeDocx());
    const { result, progress } = await check(key);
    expect(result).toEqual({ valid: true, type: 'docx', problems: [] });
    expect(progress.at(-1)).toBe(100);
  });

  it('rejects DOCX packages with missing or wrong parts, naming each problem', async () => {
    const noDocument = await uploads.put('cvs/user-1/no-document.docx', await makeDocx({ 'word/document.xml': null }));
    expect((await check(noDocument)).result).toEqual({
      valid: false,
      type: 'docx',
      problems: ['the main document part word/document.xml is missing'],
    });

    const noRels = await uploads.put('cvs/user-1/no-rels.docx', await makeDocx({ '_rels/.rels': null }));
    expect((await check(noRels)).result).toEqual({
      valid: false,
      type: 'docx',
      problems: ['the package relationships (_rels/.rels) are missing'],
    });

    const notWordXml = await uploads.put('cvs/user-1/odd.docx', await makeDocx({ 'word/document.xml': '<html><body/></html>' }));
    expect((await check(notWordXml)).result.problems).toEqual([
      'the main document part word/document.xml is not a WordprocessingML document',
    ]);
  });

  it('rejects a ZIP that is not a DOCX', async () => {
    const key = await uploads.put('cvs/user-1/archive.docx', await makeZip());
    const { result } = await check(key);
    expect(result).toEqual({ valid: false, type: 'unknown', problems: [expect.stringMatching(/without \[Content_Types\]\.xml/)] });

    // Word-looking entries but no declared main part: still not a DOCX.
    const fake = await uploads.put(
      'cvs/user-1/fake.docx',
      await makeDocx({ '[Content_Types].xml': '<Types><Default Extension="xml" ContentType="application/xml"/></Types>' }),
    );
    expect((await check(fake)).result).toMatchObject({ valid: false, problems: [expect.stringMatching(/declares no Word main document/)] });
  });

  it.each([
    ['../x', /"\.\." segment/],
    ['a/../../x', /"\.\." segment/],
    ['/etc/passwd', /absolute path/],
  ])('fails at once without retry for the key %s', async (fileKey, reason) => {
    const error = await rejection(check(fileKey));
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(reason);
    expect((error as Error & { cause?: unknown }).cause).toBeInstanceOf(UnsafeFileKeyError);
  });

  it('fails at once for a symbolic link to a file outside UPLOADS_DIR, or through a linked folder', async () => {
    const secret = path.join(uploads.outside, 'secret.pdf');
    await uploads.put('../outside/secret.pdf', await makePdf(1));
    await mkdir(path.join(uploads.dir, 'links'), { recursive: true });
    await symlink(secret, path.join(uploads.dir, 'links', 'cv.pdf'));
    await symlink(uploads.outside, path.join(uploads.dir, 'linked-folder'));

    for (const key of ['links/cv.pdf', 'linked-folder/secret.pdf', 'linked-folder/missing.pdf']) {
      const error = await rejection(check(key));
      expect(error, key).toBeInstanceOf(UnrecoverableError);
      expect(error.message).toMatch(/outside UPLOADS_DIR through a symbolic link/);
    }
  });

  it('fails at once for a missing file, and for a folder', async () => {
    const missing = await rejection(check('cvs/nobody/cv.pdf'));
    expect(missing).toBeInstanceOf(UnrecoverableError);
    expect(missing.message).toMatch(/does not exist under UPLOADS_DIR/);

    await mkdir(path.join(uploads.dir, 'a-folder.pdf'));
    const folder = await rejection(check('a-folder.pdf'));
    expect(folder).toBeInstanceOf(UnrecoverableError);
    expect(folder.message).toMatch(/not a regular file/);
  });

  it('keeps a failure of the file system itself retryable', async () => {
    const key = await uploads.put('cvs/user-1/cv-again.pdf', await makePdf(1));
    // An unmounted UPLOADS_DIR is the machine's fault, not the job's: it must not be final.
    const unmounted = createFileStore(path.join(uploads.base, 'not-mounted'));
    const error = await rejection(check(key, { fileStore: unmounted }));
    expect(error).not.toBeInstanceOf(UnrecoverableError);
    expect(error.message).toMatch(/UPLOADS_DIR .* is unavailable/);
  });
});
