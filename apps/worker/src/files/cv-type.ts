import { fileTypeFromBuffer } from 'file-type';

export const PDF_MIME = 'application/pdf';
export const DOCX_MIME = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
export const ZIP_MIME = 'application/zip';

/** What the magic bytes say, before any structural check. */
export type SniffedCvType =
  | { kind: 'pdf' }
  | { kind: 'docx' }
  /** A ZIP that file-type could not name: it may still be a DOCX, the package check decides. */
  | { kind: 'zip' }
  | { kind: 'other'; problem: string };

/** Names a few types people upload by mistake, so the problem says more than a MIME type. */
const KNOWN_MISTAKES: Record<string, string> = {
  'application/x-cfb': 'an OLE compound file (a legacy .doc, or a password-protected Word file)',
  'application/msword': 'a legacy Word .doc file',
  'application/rtf': 'an RTF document',
  'application/vnd.oasis.opendocument.text': 'an OpenDocument text (.odt)',
  'application/vnd.ms-word.document.macroenabled.12': 'a macro-enabled Word document (.docm)',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.template': 'a Word template (.dotx)',
};

/**
 * Decides the type from the content only (never the extension) with `file-type`, which also
 * looks inside ZIP archives to recognise DOCX.
 */
export async function sniffCvType(bytes: Uint8Array): Promise<SniffedCvType> {
  const detected = await fileTypeFromBuffer(bytes);
  if (detected?.mime === PDF_MIME) return { kind: 'pdf' };
  if (detected?.mime === DOCX_MIME) return { kind: 'docx' };
  if (detected?.mime === ZIP_MIME) return { kind: 'zip' };
  if (!detected) return { kind: 'other', problem: 'the content is not a recognised file type; a CV must be a PDF or a DOCX' };
  const what = KNOWN_MISTAKES[detected.mime.toLowerCase()] ?? `a ${detected.mime} file`;
  return { kind: 'other', problem: `the content is ${what}, not a PDF or a DOCX` };
}
