import { constants, inflateSync } from 'node:zlib';
import type { PDFDocument } from 'pdf-lib';
import { PDFArray, PDFDict, PDFName, PDFRef } from 'pdf-lib';
import { HostileFileError } from './errors';
import { formatBytes } from './sizes';

/** Deeper than any real page tree (writers balance them: 10 levels hold millions of pages). */
export const MAX_PAGE_TREE_DEPTH = 32;

/**
 * Inflates every FlateDecode-looking stream of a PDF with a shared output budget before the
 * parser sees it: pdf-lib decodes object streams while loading, and a 3 MB stream can inflate to
 * gigabytes. zlib stops at `maxOutputLength`, so this costs at most the budget.
 */
export function checkPdfExpansion(bytes: Uint8Array, maxExpandedBytes: number): void {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = buffer.toString('latin1');
  let remaining = maxExpandedBytes;
  for (const match of text.matchAll(/stream\r?\n/g)) {
    const at = match.index;
    if (text.slice(Math.max(0, at - 3), at) === 'end') continue;
    // Only streams whose dictionary (just before) names FlateDecode.
    const dictionary = text.slice(Math.max(0, at - 1024), at);
    const opened = dictionary.lastIndexOf('<<');
    if (opened < 0 || !/\/(?:FlateDecode|Fl)\b/.test(dictionary.slice(opened))) continue;
    const start = at + match[0].length;
    let inflated: Buffer;
    try {
      inflated = inflateSync(buffer.subarray(start), { maxOutputLength: remaining + 1, finishFlush: constants.Z_SYNC_FLUSH });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw expandsBeyond('PDF', maxExpandedBytes);
      continue; // Not valid zlib data: the parser will say so.
    }
    remaining -= inflated.length;
    if (remaining < 0) throw expandsBeyond('PDF', maxExpandedBytes);
  }
}

/**
 * Walks the page tree once, refusing a node reached twice (a tree that lists the same child
 * twice per level has 2^depth pages in a few KB) or nested deeper than {@link MAX_PAGE_TREE_DEPTH}.
 * pdf-lib's own walk has neither guard and would run for minutes.
 */
export function checkPageTree(document: PDFDocument): void {
  const { context } = document;
  const root = document.catalog.get(PDFName.of('Pages'));
  const seen = new Set<string>();
  const stack: Array<{ node: unknown; depth: number }> = [{ node: root, depth: 0 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (depth > MAX_PAGE_TREE_DEPTH) throw new HostileFileError(`PDF page tree too deep (more than ${MAX_PAGE_TREE_DEPTH} levels)`);
    if (node instanceof PDFRef) {
      const key = node.toString();
      if (seen.has(key)) throw new HostileFileError(`PDF page tree too deep: node ${key} is reached twice (a page-tree bomb)`);
      seen.add(key);
    }
    const dict = node instanceof PDFRef ? context.lookup(node) : node;
    if (!(dict instanceof PDFDict)) continue;
    const kids = dict.lookup(PDFName.of('Kids'));
    if (!(kids instanceof PDFArray)) continue;
    for (let index = kids.size() - 1; index >= 0; index -= 1) stack.push({ node: kids.get(index), depth: depth + 1 });
  }
}

/**
 * Sums the uncompressed sizes a ZIP's central directory declares. The parts read are capped
 * anyway; this refuses the archive that says it is a bomb.
 */
export function checkZipExpansion(declaredSizes: Iterable<number>, maxExpandedBytes: number): void {
  let total = 0;
  for (const size of declaredSizes) {
    total += Number.isFinite(size) && size > 0 ? size : 0;
    if (total > maxExpandedBytes) throw expandsBeyond('DOCX', maxExpandedBytes);
  }
}

export function expandsBeyond(kind: string, maxBytes: number): HostileFileError {
  return new HostileFileError(`the ${kind} expands beyond ${formatBytes(maxBytes)} when decompressed (a decompression bomb)`);
}
