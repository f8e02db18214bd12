// Tests wait on a condition (an event, a state, a poll with a deadline), never for a fixed time of
// 500 ms or more: such sleeps make the suite slow and still flake when the machine is busy.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { findFixedWaits, MAX_FIXED_WAIT_MS } from './lib/fixed-waits';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every .ts file under the test directories (test files and their helpers). */
function testSources(): string[] {
  const dirs = [
    ...['apps', 'packages'].flatMap((parent) => readdirSync(join(ROOT, parent)).map((name) => join(ROOT, parent, name, 'tests'))),
    join(ROOT, 'tests'),
  ];
  const files: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== 'node_modules') walk(path);
      else if (entry.isFile() && /\.(ts|mts|js|mjs)$/.test(entry.name)) files.push(path);
    }
  };
  dirs.forEach(walk);
  // This file and the scanner hold examples of what they look for.
  const own = [fileURLToPath(import.meta.url), join(ROOT, 'tests/lib/fixed-waits.ts')];
  return files.filter((file) => !own.includes(file));
}

describe('findFixedWaits', () => {
  it('finds literal sleeps of 500 ms or more, with their line', () => {
    const source = [
      'await new Promise((resolve) => setTimeout(resolve, 2_000));',
      'await sleep(700);',
      'await delay(1500)',
      'await setTimeout(500);',
      'await new Promise((r) => setTimeout(r, 3e3));',
      'await new Promise((resolve) => setTimeout(resolve, Math.max(0, 20_000 - elapsed)));',
      'await page.waitForTimeout(1_000);',
    ].join('\n');
    expect(findFixedWaits(source).map(({ line }) => line)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('leaves short sleeps, deadlines and timeouts alone', () => {
    const source = [
      'await new Promise((resolve) => setTimeout(resolve, 100));',
      'await sleep(499);',
      "await waitFor(() => done, { timeoutMs: 10_000, what: 'done' });",
      'const timer = setTimeout(() => reject(new Error("late")), 20_000);',
      'it("runs", async () => {}, 60_000);',
      'await peers.smtp.waitForMessages(1, 2_000);',
    ].join('\n');
    expect(findFixedWaits(source)).toEqual([]);
  });
});

describe('the test files', () => {
  it(`hold no fixed wait of ${MAX_FIXED_WAIT_MS} ms or more`, () => {
    const found = testSources().flatMap((file) =>
      findFixedWaits(readFileSync(file, 'utf8')).map(({ line, text }) => `${relative(ROOT, file)}:${line}: ${text}`),
    );
    expect(found).toEqual([]);
  });
});
