import JSZip from 'jszip';
import { HostileFileError } from './errors';
import { checkZipExpansion } from './guards';

const WORD_MAIN = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml';
const OFFICE_DOCUMENT_REL = /\/officeDocument$/;

/** The parts read are small XML; their decompressed size is capped so a ZIP bomb costs nothing. */
const MAX_PART_BYTES = 1024 * 1024;
/** Enough of the main part to see its root element; the body is not read in full. */
const MAIN_PART_HEAD_BYTES = 64 * 1024;

export interface DocxInspection {
  /** The package declares a WordprocessingML main part: it is a DOCX, valid or not. */
  isWord: boolean;
  problems: string[];
}

/**
 * Checks that a ZIP is a valid OOXML word-processing package: it opens as a ZIP,
 * `[Content_Types].xml` declares the WordprocessingML main part, that part exists and has a
 * `document` root, and `_rels/.rels` points the package at it.
 */
export async function inspectDocx(bytes: Uint8Array, maxExpandedBytes: number): Promise<DocxInspection> {
  const found: DocxInspection = { isWord: false, problems: [] };
  try {
    await checkPackage(bytes, maxExpandedBytes, found);
  } catch (error) {
    if (error instanceof HostileFileError) throw error;
    // A part that fails to inflate: the same bytes fail again, so it is a verdict, not an error.
    found.problems.push(error instanceof Error ? error.message : String(error));
  }
  return found;
}

async function checkPackage(bytes: Uint8Array, maxExpandedBytes: number, found: DocxInspection): Promise<void> {
  const { problems } = found;
  let zip: JSZip;
  try {
    zip = await JSZip.loadAsync(bytes, { checkCRC32: false });
  } catch (error) {
    problems.push(`the ZIP container is damaged (${error instanceof Error ? error.message : String(error)})`);
    return;
  }
  // jszip keeps each entry's central-directory sizes on the private `_data`; the parts read
  // below are capped whatever an entry declares.
  checkZipExpansion(
    Object.values(zip.files).map((entry) => (entry as unknown as { _data?: { uncompressedSize?: number } })._data?.uncompressedSize ?? 0),
    maxExpandedBytes,
  );

  const contentTypes = await readPart(zip, '[Content_Types].xml', MAX_PART_BYTES);
  if (contentTypes === undefined) {
    problems.push('a ZIP archive without [Content_Types].xml, not a Word document');
    return;
  }
  const mainPart = elements(contentTypes, 'Override').find((attributes) => attributes.ContentType === WORD_MAIN)?.PartName;
  if (!mainPart) {
    problems.push('a ZIP archive whose [Content_Types].xml declares no Word main document, not a DOCX');
    return;
  }
  found.isWord = true;

  const mainName = partName(mainPart);
  const mainHead = await readPart(zip, mainName, MAIN_PART_HEAD_BYTES);
  if (mainHead === undefined) problems.push(`the main document part ${mainName} is missing`);
  else if (!/<(?:[A-Za-z_][\w.-]*:)?document[\s>]/.test(mainHead)) {
    problems.push(`the main document part ${mainName} is not a WordprocessingML document`);
  }

  const rels = await readPart(zip, '_rels/.rels', MAX_PART_BYTES);
  if (rels === undefined) problems.push('the package relationships (_rels/.rels) are missing');
  else {
    const pointsAtMain = elements(rels, 'Relationship').some(
      (attributes) => OFFICE_DOCUMENT_REL.test(attributes.Type ?? '') && partName(attributes.Target ?? '') === mainName,
    );
    if (!pointsAtMain) problems.push(`the package relationships do not point to the main document ${mainName}`);
  }
}

/** Part names are URIs relative to the package root: `/word/document.xml` → `word/document.xml`. */
function partName(uri: string): string {
  let name = uri.replace(/^\/+/, '');
  try {
    name = decodeURI(name);
  } catch {
    // A malformed escape stays as written and simply will not match.
  }
  return name;
}

/** The attributes of every `<tag …>` element; the parts checked are flat lists of such elements. */
function elements(xml: string, tag: string): Array<Record<string, string>> {
  const found: Array<Record<string, string>> = [];
  for (const match of xml.matchAll(new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${tag}\\b([^>]*)>`, 'g'))) {
    const attributes: Record<string, string> = {};
    for (const attribute of (match[1] ?? '').matchAll(/([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
      attributes[attribute[1] as string] = attribute[2] ?? attribute[3] ?? '';
    }
    found.push(attributes);
  }
  return found;
}

/**
 * Reads at most `maxBytes` of a part's decompressed content, stopping the inflater there; the
 * part's declared size is not trusted. Undefined when the part does not exist.
 */
async function readPart(zip: JSZip, name: string, maxBytes: number): Promise<string | undefined> {
  const entry = zip.file(name);
  if (!entry || entry.dir) return undefined;
  const stream = entry.nodeStream('nodebuffer');
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      stream.removeAllListeners('data');
      stream.pause();
      (stream as { destroy?: () => void }).destroy?.();
      resolve(Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8'));
    };
    stream.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= maxBytes) finish();
    });
    stream.on('end', finish);
    stream.on('error', (error: Error) => {
      if (done) return;
      done = true;
      reject(new Error(`the part ${name} cannot be decompressed (${error.message})`));
    });
  });
}
