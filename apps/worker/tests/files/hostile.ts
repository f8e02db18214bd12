import { constants, crc32, deflateRawSync } from 'node:zlib';

/**
 * Hostile files, built here so no binary fixture is checked in. Each is small on disk and costly
 * to a naive reader.
 */

const MIB = 1024 * 1024;

/** Assembles a classic PDF (header, objects, xref table, trailer) from object bodies 1..n. */
function assemblePdf(objects: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  const offsets: number[] = [];
  let length = parts[0]!.length;
  objects.forEach((body, index) => {
    offsets.push(length);
    const chunk = Buffer.concat([
      Buffer.from(`${index + 1} 0 obj\n`, 'latin1'),
      typeof body === 'string' ? Buffer.from(body, 'latin1') : body,
      Buffer.from('\nendobj\n', 'latin1'),
    ]);
    parts.push(chunk);
    length += chunk.length;
  });
  const xref = [
    'xref',
    `0 ${objects.length + 1}`,
    '0000000000 65535 f ',
    ...offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n `),
    'trailer',
    `<< /Size ${objects.length + 1} /Root 1 0 R >>`,
    'startxref',
    String(length),
    '%%EOF',
    '',
  ].join('\n');
  parts.push(Buffer.from(xref, 'latin1'));
  return Buffer.concat(parts);
}

/**
 * The page-tree bomb: every Pages node lists the same child twice, `levels` deep, so a reader
 * that walks the tree visits 2^levels pages from a file of a few KB.
 */
export function makePageTreeBomb(levels = 27): Buffer {
  // 1: catalog; 2..levels+1: Pages nodes; levels+2: the one leaf page.
  const objects: string[] = ['<< /Type /Catalog /Pages 2 0 R >>'];
  for (let level = 0; level < levels; level += 1) {
    const self = level + 2;
    const parent = level === 0 ? '' : ` /Parent ${self - 1} 0 R`;
    const child = self + 1;
    objects.push(`<< /Type /Pages${parent} /Kids [${child} 0 R ${child} 0 R] /Count ${2 ** (levels - level)} >>`);
  }
  objects.push(`<< /Type /Page /Parent ${levels + 1} 0 R /MediaBox [0 0 595 842] >>`);
  return assemblePdf(objects);
}

/**
 * `mib` MiB of zeros as a zlib stream, without compressing them all: one sync-flushed deflate
 * block of 1 MiB of zeros refers only to zeros in the window, so it can be repeated. The
 * Adler-32 of n zeros is ((n mod 65521) << 16) | 1.
 */
export function zlibZeros(mib: number): Buffer {
  const { head, block, tail } = zeroBlocks();
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE(((((mib * MIB) % 65521) << 16) | 1) >>> 0);
  return Buffer.concat([Buffer.from([0x78, 0xda]), head, ...Array<Buffer>(mib - 1).fill(block), tail, adler]);
}

/** Raw deflate of `mib` MiB of zeros, the same way (for ZIP entries). */
export function rawDeflateZeros(mib: number): Buffer {
  const { head, block, tail } = zeroBlocks();
  return Buffer.concat([head, ...Array<Buffer>(mib - 1).fill(block), tail]);
}

let cachedBlocks: { head: Buffer; block: Buffer; tail: Buffer } | undefined;
function zeroBlocks(): { head: Buffer; block: Buffer; tail: Buffer } {
  if (cachedBlocks) return cachedBlocks;
  const zeros = Buffer.alloc(MIB);
  const sync = { level: 9, finishFlush: constants.Z_SYNC_FLUSH };
  cachedBlocks = {
    // The first MiB, from an empty window; afterwards the window holds only zeros.
    head: deflateRawSync(zeros, sync),
    // One MiB compressed against a window of zeros (the dictionary): valid after any zeros.
    block: deflateRawSync(zeros, { ...sync, dictionary: Buffer.alloc(32 * 1024) }),
    // The final, empty block.
    tail: deflateRawSync(Buffer.alloc(0)),
  };
  return cachedBlocks;
}

/**
 * The flate bomb: a PDF 1.5 object stream (/Type /ObjStm) whose FlateDecode data inflates to
 * `mib` MiB. A parser that decodes object streams while loading inflates all of it.
 */
export function makeFlateBombPdf(mib = 3 * 1024): Buffer {
  const data = zlibZeros(mib);
  const objects: Array<string | Buffer> = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>',
    Buffer.concat([
      Buffer.from(`<< /Type /ObjStm /N 1 /First 4 /Filter /FlateDecode /Length ${data.length} >>\nstream\n`, 'latin1'),
      data,
      Buffer.from('\nendstream', 'latin1'),
    ]),
  ];
  return assemblePdf(objects);
}

/**
 * A ZIP bomb that is a DOCX on the surface: the three parts Word needs, small, and one more part
 * of `mib` MiB of zeros whose sizes are declared truthfully (a ZIP64-free size, under 4 GiB).
 */
export function makeZipBombDocx(mib = 2 * 1024 - 1): Buffer {
  const entries: Array<{ name: string; data: Buffer; size: number; crc: number }> = [];
  const add = (name: string, content: string) => {
    const raw = Buffer.from(content, 'utf8');
    entries.push({ name, data: deflateRawSync(raw), size: raw.length, crc: crc32(raw) });
  };
  add(
    '[Content_Types].xml',
    `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
  );
  add(
    '_rels/.rels',
    `<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`,
  );
  add(
    'word/document.xml',
    `<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>CV</w:t></w:r></w:p></w:body></w:document>`,
  );
  // CRC-32 of the zeros is not needed by readers that skip the check; computed anyway so the
  // archive is valid: crc32 accepts a running value.
  let crc = 0;
  const zeros = Buffer.alloc(MIB);
  for (let index = 0; index < mib; index += 1) crc = crc32(zeros, crc);
  entries.push({ name: 'word/media/padding.bin', data: rawDeflateZeros(mib), size: mib * MIB, crc });

  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0, 6);
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt32LE(0, 10);
    local.writeUInt32LE(entry.crc >>> 0, 14);
    local.writeUInt32LE(entry.data.length, 18);
    local.writeUInt32LE(entry.size >>> 0, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(0, 28);
    locals.push(local, name, entry.data);

    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(0, 12);
    central.writeUInt32LE(entry.crc >>> 0, 16);
    central.writeUInt32LE(entry.data.length, 20);
    central.writeUInt32LE(entry.size >>> 0, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += 30 + name.length + entry.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/**
 * A PNG whose header declares `width` × `height` pixels around one real pixel: a decoder that
 * trusts the header allocates width × height × 4 bytes.
 */
export function declarePngSize(png: Buffer, width: number, height: number): Buffer {
  const bomb = Buffer.from(png);
  // Signature (8), IHDR length (4), "IHDR" (4), then width and height; the CRC covers type + data.
  bomb.writeUInt32BE(width, 16);
  bomb.writeUInt32BE(height, 20);
  bomb.writeUInt32BE(crc32(bomb.subarray(12, 29)) >>> 0, 29);
  return bomb;
}
