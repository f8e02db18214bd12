import type { FileSandbox } from '../../deps/file-sandbox';
import type { FileStore } from '../../deps/file-store';
import { sniffCvType } from '../../files/cv-type';
import type { FileLimits } from '../../files/limits';
import { formatBytes } from '../../files/sizes';
import { asUnrecoverable } from '../../files/unrecoverable';
import type { Processor } from '../types';

/** The verdict on a CV. An invalid CV is a completed job with `valid: false`, never a failure. */
export interface ValidateCvResult {
  valid: boolean;
  /** Decided by the content (magic bytes), never by the extension. */
  type: 'pdf' | 'docx' | 'unknown';
  /** PDF only, when the page tree could be read. */
  pages?: number;
  /** Human-readable reasons, empty when valid. */
  problems: string[];
}

export interface ValidateCvDeps {
  fileStore: FileStore;
  /** Where the content is parsed: a child process with a wall-clock limit and a memory cap. */
  fileSandbox: Pick<FileSandbox, 'judgeCv'>;
  limits: Pick<FileLimits, 'cvMaxBytes' | 'cvMaxPages'>;
}

/** Enough for file-type to recognise a PDF or a ZIP when the file is too large to read whole. */
const SNIFF_BYTES = 4100;

/**
 * `files/validate-cv`: checks the uploaded CV is a PDF or DOCX within the size and page limits.
 * An unsafe or missing key fails at once (UnrecoverableError); so does a hostile file (a page-tree,
 * flate or ZIP bomb, or one that outlives the sandbox's limits). Anything else about the content
 * is a verdict in the result.
 */
export const validateCv: Processor<'files/validate-cv', ValidateCvResult, ValidateCvDeps> = async (job, deps, ctx) => {
  const { fileStore } = deps;
  const { logger, signal } = ctx;
  const { fileKey } = job.data;
  try {
    const file = await fileStore.stat(fileKey);
    await job.updateProgress(10);
    signal.throwIfAborted();

    const result = await judge(deps, fileKey, file.size, signal);
    signal.throwIfAborted();
    await job.updateProgress(100);
    logger.info(
      { type: result.type, valid: result.valid, pages: result.pages, problems: result.problems.length, bytes: file.size },
      'CV checked',
    );
    return result;
  } catch (error) {
    throw asUnrecoverable(error);
  }
};

async function judge(
  { fileStore, fileSandbox, limits }: ValidateCvDeps,
  fileKey: string,
  size: number,
  signal: AbortSignal,
): Promise<ValidateCvResult> {
  if (size === 0) return { valid: false, type: 'unknown', problems: ['the file is empty'] };

  if (size > limits.cvMaxBytes) {
    // Not read whole: only enough to say what it is.
    const head = await fileStore.read(fileKey, { maxBytes: SNIFF_BYTES });
    const sniffed = await sniffCvType(head);
    const type = sniffed.kind === 'pdf' || sniffed.kind === 'docx' ? sniffed.kind : 'unknown';
    const problems = [tooLarge(size, limits.cvMaxBytes)];
    if (sniffed.kind === 'other') problems.push(sniffed.problem);
    return { valid: false, type, problems };
  }

  // One byte past the limit tells a file that grew since stat from one exactly at the limit.
  const bytes = await fileStore.read(fileKey, { maxBytes: limits.cvMaxBytes + 1 });
  if (bytes.length > limits.cvMaxBytes) {
    return { valid: false, type: 'unknown', problems: [tooLarge(bytes.length, limits.cvMaxBytes)] };
  }
  signal.throwIfAborted();
  return fileSandbox.judgeCv(bytes, limits, signal);
}

function tooLarge(size: number, limit: number): string {
  return `the file is ${formatBytes(size)}, over the limit of ${formatBytes(limit)}`;
}

export default validateCv;
