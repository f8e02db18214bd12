import JSZip from 'jszip';
import { PDFDocument, PDFHexString, StandardFonts } from 'pdf-lib';
import sharp from 'sharp';

/** A real PDF with `pages` pages, each with a line of text. */
export async function makePdf(pages: number, options: { useObjectStreams?: boolean } = {}): Promise<Buffer> {
  const document = await PDFDocument.create();
  const font = await document.embedFont(StandardFonts.Helvetica);
  for (let page = 1; page <= pages; page += 1) {
    document.addPage([595, 842]).drawText(`Curriculum vitae, page ${page}`, { x: 50, y: 780, size: 14, font });
  }
  // addDefaultPage: false, or pdf-lib would give a zero-page document a blank page.
  return Buffer.from(await document.save({ ...options, addDefaultPage: false }));
}

/**
 * A PDF whose trailer carries a standard security handler (/Encrypt), as a password-protected
 * PDF has. pdf-lib cannot encrypt content, but the trailer is what marks a file as encrypted and
 * what a reader (and pdf-lib's own EncryptedPDFError) goes by.
 */
export async function makeEncryptedPdf(): Promise<Buffer> {
  const document = await PDFDocument.create();
  document.addPage();
  const { context } = document;
  context.trailerInfo.Encrypt = context.register(
    context.obj({
      Filter: 'Standard',
      V: 2,
      R: 3,
      Length: 128,
      O: PDFHexString.of('3a'.repeat(32)),
      U: PDFHexString.of('5c'.repeat(32)),
      P: -3904,
    }),
  );
  context.trailerInfo.ID = context.obj([PDFHexString.of('ab'.repeat(16)), PDFHexString.of('ab'.repeat(16))]);
  return Buffer.from(await document.save({ useObjectStreams: false }));
}

const CONTENT_TYPES = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
  <Default Extension="xml" ContentType="application/xml"/>
  <Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>
</Types>`;

const PACKAGE_RELS = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>
</Relationships>`;

const DOCUMENT = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
  <w:body><w:p><w:r><w:t>Curriculum vitae</w:t></w:r></w:p><w:sectPr/></w:body>
</w:document>`;

/** The three parts a minimal Word document needs; `parts` replaces (string) or drops (null) one. */
export async function makeDocx(parts: Record<string, string | null> = {}): Promise<Buffer> {
  const all: Record<string, string | null> = {
    '[Content_Types].xml': CONTENT_TYPES,
    '_rels/.rels': PACKAGE_RELS,
    'word/document.xml': DOCUMENT,
    ...parts,
  };
  const zip = new JSZip();
  for (const [name, content] of Object.entries(all)) if (content !== null) zip.file(name, content);
  return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
}

export async function makeZip(): Promise<Buffer> {
  const zip = new JSZip();
  zip.file('notes.txt', 'not a word document');
  zip.file('photos/readme.md', '# holiday');
  return zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
}

export async function makePng(width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 20, g: 160, b: 90 } } })
    .png()
    .toBuffer();
}

export const RED = { r: 255, g: 0, b: 0 };
export const BLUE = { r: 0, g: 0, b: 255 };

/**
 * A 300×200 JPEG stored sideways: left half red, right half blue, EXIF orientation 6 ("rotate
 * 90° clockwise to display"), plus an EXIF artist tag that must not survive. Displayed upright
 * it is 200×300 with red on top and blue below.
 */
export async function makeSidewaysJpeg(): Promise<Buffer> {
  const width = 300;
  const height = 200;
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const colour = x < width / 2 ? RED : BLUE;
      pixels.set([colour.r, colour.g, colour.b], (y * width + x) * 3);
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 95 })
    .withExif({ IFD0: { Artist: 'Jane Applicant', Copyright: 'secret camera data' } })
    .withMetadata({ orientation: 6 })
    .toBuffer();
}
