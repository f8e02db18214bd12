import { PDFDocument } from 'pdf-lib';
import { checkPageTree, checkPdfExpansion } from './guards';

export interface PdfInspection {
  /** Absent when the page tree cannot be read. */
  pages?: number;
  encrypted: boolean;
  problems: string[];
}

/**
 * Parses a PDF with pdf-lib and checks it is not encrypted and has 1 to `maxPages` pages.
 * Encryption is checked explicitly (pdf-lib would otherwise throw EncryptedPDFError and hide
 * whether the rest parses): the document is loaded with `ignoreEncryption` and its trailer read.
 * A decompression or page-tree bomb throws `HostileFileError` instead of returning a verdict.
 */
export async function inspectPdf(bytes: Uint8Array, maxPages: number, maxExpandedBytes: number): Promise<PdfInspection> {
  checkPdfExpansion(bytes, maxExpandedBytes);
  let document: PDFDocument;
  try {
    document = await PDFDocument.load(bytes, {
      ignoreEncryption: true,
      // Strict: an object pdf-lib cannot parse is a problem, not a console warning.
      throwOnInvalidObject: true,
      updateMetadata: false,
    });
  } catch (error) {
    // With object streams the objects themselves are encrypted, so parsing fails before the
    // trailer can be asked; the /Encrypt key is then looked for in the raw bytes.
    if (mentionsEncrypt(bytes)) return { encrypted: true, problems: [ENCRYPTED] };
    return { encrypted: false, problems: [`the PDF cannot be parsed (${shortMessage(error)})`] };
  }

  const problems: string[] = [];
  const encrypted = document.isEncrypted;
  if (encrypted) problems.push(ENCRYPTED);

  checkPageTree(document);
  let pages: number | undefined;
  try {
    pages = document.getPageCount();
  } catch (error) {
    problems.push(`the PDF has no readable page tree (${shortMessage(error)})`);
    return { encrypted, problems };
  }
  if (pages < 1) problems.push('the PDF has no pages');
  else if (pages > maxPages) problems.push(`the PDF has ${pages} pages, more than the limit of ${maxPages}`);
  return { pages, encrypted, problems };
}

const ENCRYPTED = 'the PDF is encrypted (password-protected or with restricted permissions)';

function mentionsEncrypt(bytes: Uint8Array): boolean {
  return /\/Encrypt[\s/<\d]/.test(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'));
}

function shortMessage(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.length > 160 ? `${message.slice(0, 157)}...` : message;
}
