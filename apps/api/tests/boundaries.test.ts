import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../src', import.meta.url));

/** Every import/require/dynamic import specifier of a source text, with what it names from it. */
function imports(source: string): Array<{ from: string; names: string }> {
  const found: Array<{ from: string; names: string }> = [];
  const statement = /\b(?:import|export)\s+(type\s+)?([\s\S]*?)\s+from\s+['"]([^'"]+)['"]/g;
  for (const match of source.matchAll(statement)) found.push({ from: match[3]!, names: match[1] ? '' : match[2]! });
  for (const match of source.matchAll(/\b(?:require|import)\s*\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push({ from: match[1]!, names: '*' });
  for (const match of source.matchAll(/^\s*import\s+['"]([^'"]+)['"]/gm)) found.push({ from: match[1]!, names: '' });
  return found;
}

/** What the API must never import: a BullMQ Worker, or anything of the worker app (processors). */
export function forbiddenImports(source: string): string[] {
  return imports(source)
    .filter(({ from, names }) => {
      if (/(^|\/)apps\/worker(\/|$)|^@ceres\/worker|(^|\/)worker\/src(\/|$)|(^|\/)processors?(\/|$)/.test(from)) return true;
      if (from === 'bullmq' || from.startsWith('bullmq/')) return names === '*' || /\*|\bWorker\b/.test(names);
      return false;
    })
    .map(({ from, names }) => `${names || '(side effect)'} from ${from}`);
}

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((entry) => entry.isFile() && /\.[cm]?[jt]s$/.test(entry.name)).map((entry) => join(entry.parentPath, entry.name));
}

describe('the API only enqueues', () => {
  it('imports no BullMQ Worker and nothing of apps/worker anywhere under src/', async () => {
    const files = await sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(10);
    const offenders: string[] = [];
    for (const file of files) {
      for (const bad of forbiddenImports(await readFile(file, 'utf8'))) offenders.push(`${relative(SRC, file)}: ${bad}`);
    }
    expect(offenders).toEqual([]);
  });

  it('the scan catches each way of importing them', () => {
    const bad = [
      "import { Queue, Worker } from 'bullmq';",
      "import {\n  Worker as W,\n} from \"bullmq\";",
      "import * as bull from 'bullmq';",
      "const { Worker } = await import('bullmq');",
      "const bull = require('bullmq');",
      "export { Worker } from 'bullmq';",
      "import { runEmail } from '../../worker/src/processors/email';",
      "import { processors } from '@ceres/worker';",
      "import '../../../apps/worker/src/main';",
      "import { sendVerify } from './processors/email';",
    ];
    for (const source of bad) expect(forbiddenImports(source), source).not.toEqual([]);
    expect(forbiddenImports("import { Queue, type Job } from 'bullmq';\nimport { QueueClient } from '@ceres/queues';")).toEqual([]);
  });
});
