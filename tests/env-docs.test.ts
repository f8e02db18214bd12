import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { QueuesEnv } from '@ceres/queues';
import type { TObject } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ApiEnv } from '../apps/api/src/config';
import { CliEnv } from '../apps/cli/src/env';
import { QueuesUiEnv } from '../apps/queues-ui/src/config';
import { WorkerEnv } from '../apps/worker/src/config';

/**
 * The env schemas are where variables and their defaults are written; README's table, the docs'
 * tables and `.env.example` must say the same. This fails on any drift: a variable missing from a
 * page, one documented that no app reads, or a default that differs from the schema's.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}/${path}`, 'utf8');

/** Read by PM2 (ecosystem.config.js), not by an app. */
const PM2_ONLY: Record<string, string> = { API_INSTANCES: '2', WORKER_KILL_TIMEOUT_MS: '660000' };

type Variables = Map<string, { default: unknown }>;
const variablesOf = (...schemas: TObject[]): Variables =>
  new Map(
    schemas.flatMap((schema) =>
      Object.entries(schema.properties).map(
        ([name, property]) => [name, { default: (property as { default?: unknown }).default }] as const,
      ),
    ),
  );

const QUEUES = variablesOf(QueuesEnv);
const API = variablesOf(ApiEnv);
const UI = variablesOf(QueuesUiEnv);
const WORKER = variablesOf(WorkerEnv);
const CLI = variablesOf(CliEnv);
const ALL = new Map([...QUEUES, ...API, ...UI, ...WORKER, ...CLI]);

/** How a default is written in the docs: booleans as on/off. */
const shown = (value: unknown) => (value === true ? 'on' : value === false ? 'off' : String(value));

/** The env rows of the markdown tables of a page: each variable with the default cell that belongs to it. */
function tableRows(markdown: string): Array<{ variable: string; cell: string; line: string }> {
  const rows: Array<{ variable: string; cell: string; line: string }> = [];
  for (const line of markdown.split('\n')) {
    const cells = line.split('|').map((cell) => cell.trim());
    if (cells.length < 4 || !/^`[A-Z][A-Z0-9_]*`(\s*[,/]\s*`[A-Z][A-Z0-9_]*`)*$/.test(cells[1]!)) continue;
    const variables = [...cells[1]!.matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((match) => match[1]!);
    // `A` / `B` with `1` / `2`: the defaults pair up with the variables.
    const defaults = variables.length > 1 && cells[2]!.includes(' / ') ? cells[2]!.split(' / ') : variables.map(() => cells[2]!);
    variables.forEach((variable, i) => rows.push({ variable, cell: defaults[i]!.trim(), line }));
  }
  return rows;
}

function checkDefault(variable: string, cell: string, where: string): void {
  if (/^see\b/.test(cell)) return;
  const expected = ALL.get(variable)?.default ?? PM2_ONLY[variable];
  if (expected === undefined) {
    expect(cell, `${where}: ${variable} has no default in its schema`).toMatch(/^(—|unset|none|\*\*required\*\*|-)/);
  } else {
    expect(/^`([^`]*)`/.exec(cell)?.[1], `${where}: the default of ${variable}`).toBe(shown(expected));
  }
}

describe('the environment docs match the env schemas', () => {
  it('README lists every variable once with its schema default, and nothing else', () => {
    const rows = tableRows(read('README.md'));
    const listed = rows.map((row) => row.variable);
    expect([...listed].sort()).toEqual([...ALL.keys(), ...Object.keys(PM2_ONLY)].sort());
    for (const { variable, cell } of rows) checkDefault(variable, cell, 'README.md');
  });

  it.each([
    ['docs/queues.md', [QUEUES]],
    ['docs/api.md', [API]],
    ['docs/queues-ui.md', [UI, QUEUES]],
    ['docs/worker.md', [WORKER]],
  ] as const)('%s lists every variable of its app with the schema default', (page, schemas) => {
    const files = page === 'docs/worker.md' ? [read(page), read('docs/files.md')] : [read(page)];
    const rows = files.flatMap(tableRows);
    const listed = new Set(rows.map((row) => row.variable));
    for (const variables of schemas)
      for (const variable of variables.keys()) expect(listed, `${page} lacks ${variable}`).toContain(variable);
    for (const { variable, cell } of rows) {
      expect(ALL.has(variable) || variable in PM2_ONLY, `${page} documents ${variable}, which no app reads`).toBe(true);
      checkDefault(variable, cell, page);
    }
  });

  it('docs/files.md gives the file variables their schema defaults', () => {
    for (const { variable, cell } of tableRows(read('docs/files.md'))) checkDefault(variable, cell, 'docs/files.md');
  });

  it('.env.example names every variable, and a commented-out one shows its default', () => {
    const lines = read('.env.example').split('\n');
    const named = new Map<string, { value: string; commented: boolean }>();
    for (const line of lines) {
      const match = /^(#\s?)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      if (match) named.set(match[2]!, { value: match[3]!.replace(/\s+#\s.*$/, '').trim(), commented: match[1] !== undefined });
    }
    expect([...named.keys()].sort()).toEqual([...ALL.keys(), ...Object.keys(PM2_ONLY)].sort());
    for (const [variable, { value, commented }] of named) {
      const expected = ALL.get(variable)?.default ?? PM2_ONLY[variable];
      // A commented-out line reads "this is the default"; booleans show the other choice.
      if (commented && expected !== undefined && typeof expected !== 'boolean')
        expect(value, `.env.example: ${variable}`).toBe(shown(expected));
    }
  });
});
