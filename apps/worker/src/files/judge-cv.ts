import { sniffCvType } from './cv-type';
import { inspectDocx } from './inspect-docx';
import { inspectPdf } from './inspect-pdf';

/** The verdict on a CV's content. */
export interface CvVerdict {
  valid: boolean;
  /** Decided by the content (magic bytes), never by the extension. */
  type: 'pdf' | 'docx' | 'unknown';
  /** PDF only, when the page tree could be read. */
  pages?: number;
  /** Human-readable reasons, empty when valid. */
  problems: string[];
}

export interface CvContentLimits {
  maxPages: number;
  /** What all decompressed streams or parts together may reach. */
  maxExpandedBytes: number;
}

/**
 * Judges the bytes of a CV within the size limit. Runs inside the file sandbox: the parsers are
 * synchronous and a hostile file could hold them for minutes. A bomb throws `HostileFileError`.
 */
export async function judgeCvContent(bytes: Uint8Array, limits: CvContentLimits): Promise<CvVerdict> {
  const sniffed = await sniffCvType(bytes);
  switch (sniffed.kind) {
    case 'pdf': {
      const pdf = await inspectPdf(bytes, limits.maxPages, limits.maxExpandedBytes);
      return {
        valid: pdf.problems.length === 0,
        type: 'pdf',
        ...(pdf.pages === undefined ? {} : { pages: pdf.pages }),
        problems: pdf.problems,
      };
    }
    case 'docx':
    case 'zip': {
      const docx = await inspectDocx(bytes, limits.maxExpandedBytes);
      // file-type's DOCX verdict or a declared Word main part makes it a DOCX, valid or not.
      const type = sniffed.kind === 'docx' || docx.isWord ? 'docx' : 'unknown';
      return { valid: type === 'docx' && docx.problems.length === 0, type, problems: docx.problems };
    }
    case 'other':
      return { valid: false, type: 'unknown', problems: [sniffed.problem] };
  }
}
