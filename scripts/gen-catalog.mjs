#!/usr/bin/env node
// Writes the files that list the job types, so that a job type is its definition file and its
// processor file, nothing else to register:
// - packages/queues/src/jobs/catalog.ts: every folder of jobs/ with a queue.ts is a queue; every
//   other .ts file in it is one job type, named after the file;
// - packages/queues/src/named-producers.ts: `enqueue<Queue><Job>` for every job type whose
//   definition says `enqueuedBy: 'platform'`;
// - apps/worker/src/processors/catalog.ts: every apps/worker/src/processors/<queue>/<job>.ts.
// A file named `<job>.<role>.ts` (`verify.template.ts`, `verify.test.ts`) belongs to job `<job>`
// and is not a job type of its own.
// `npm run build` and `npm run typecheck` run it first. `--check` writes nothing and exits 1 when
// a catalog is out of date.
import { readdirSync, readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const ROOT = new URL('..', import.meta.url).pathname;
export const JOBS_DIR = join(ROOT, 'packages/queues/src/jobs');
export const PROCESSORS_DIR = join(ROOT, 'apps/worker/src/processors');
const HEADER =
  '// Written by scripts/gen-catalog.mjs (run by npm run build and npm run typecheck) from the files\n// beside it: do not edit.\n';

export const NAMED_PRODUCERS_FILE = join(ROOT, 'packages/queues/src/named-producers.ts');

const camel = (...parts) =>
  parts
    .join('-')
    .split('-')
    .map((word, index) => (index === 0 ? word : word.charAt(0).toUpperCase() + word.slice(1)))
    .join('');

/** `{ queue: [job, …] }` of the `<dir>/<queue>/<job>.ts` files, sorted. */
export function scan(dir, { requireQueueFile }) {
  const found = {};
  for (const queue of readdirSync(dir).sort()) {
    const folder = join(dir, queue);
    if (!statSync(folder).isDirectory()) continue;
    if (requireQueueFile && !existsSync(join(folder, 'queue.ts'))) continue;
    found[queue] = readdirSync(folder)
      .filter((file) => file.endsWith('.ts') && file !== 'queue.ts' && !file.slice(0, -3).includes('.'))
      .map((file) => file.slice(0, -3))
      .sort();
  }
  return found;
}

export function jobsCatalog(queues) {
  const imports = [];
  const entries = [];
  for (const [queue, jobs] of Object.entries(queues)) {
    imports.push(`import ${camel(queue, 'queue')} from './${queue}/queue';`);
    for (const job of jobs) imports.push(`import ${camel(queue, job)} from './${queue}/${job}';`);
    const jobEntries = jobs.map((job) => `'${job}': ${camel(queue, job)}`).join(', ');
    entries.push(`  '${queue}': { ...${camel(queue, 'queue')}, jobs: { ${jobEntries} } },`);
  }
  return `${HEADER}${imports.join('\n')}\n\n/** Every queue and its job types. */\nexport const catalog = {\n${entries.join('\n')}\n} as const;\n`;
}

/**
 * Who enqueues `<dir>/<queue>/<job>.ts`, read from its `enqueuedBy: 'platform' | 'worker'`: exactly
 * one such literal, or the generator stops (the definition's type allows nothing else).
 */
export function enqueuedBy(dir, queue, job) {
  const text = readFileSync(join(dir, queue, `${job}.ts`), 'utf8');
  const found = [...text.matchAll(/\benqueuedBy:\s*'(platform|worker)'/g)].map((match) => match[1]);
  if (found.length !== 1)
    throw new Error(`${queue}/${job}.ts: expected one enqueuedBy: 'platform' or 'worker' literal, found ${found.length}`);
  return found[0];
}

/** `enqueueEmailVerify` for `email/verify`. */
export const producerName = (queue, job) => {
  const name = camel(queue, job);
  return `enqueue${name.charAt(0).toUpperCase()}${name.slice(1)}`;
};

export function namedProducers(queues, dir = JOBS_DIR) {
  const lines = [];
  for (const [queue, jobs] of Object.entries(queues)) {
    for (const job of jobs) {
      if (enqueuedBy(dir, queue, job) !== 'platform') continue;
      lines.push(`/** \`enqueue('${queue}/${job}', payload, options)\` on the default client. */`);
      lines.push(`export const ${producerName(queue, job)} = producer('${queue}/${job}');`);
    }
  }
  return `${HEADER}import { producer } from './producers';\n\n${lines.join('\n')}\n`;
}

export function processorsCatalog(queues) {
  const imports = ["import type { ProcessorMap } from './types';"];
  const entries = [];
  for (const [queue, jobs] of Object.entries(queues)) {
    for (const job of jobs) imports.push(`import ${camel(queue, job)} from './${queue}/${job}';`);
    entries.push(`  '${queue}': { ${jobs.map((job) => `'${job}': ${camel(queue, job)}`).join(', ')} },`);
  }
  return (
    `${HEADER}${imports.join('\n')}\n\n` +
    '/** The processor of every job type: `satisfies` makes a missing (or extra) one a compile error. */\n' +
    `export const processors = {\n${entries.join('\n')}\n} satisfies ProcessorMap;\n`
  );
}

export function main(argv) {
  const jobs = scan(JOBS_DIR, { requireQueueFile: true });
  const outputs = [
    [join(JOBS_DIR, 'catalog.ts'), jobsCatalog(jobs)],
    [NAMED_PRODUCERS_FILE, namedProducers(jobs)],
    [join(PROCESSORS_DIR, 'catalog.ts'), processorsCatalog(scan(PROCESSORS_DIR, { requireQueueFile: false }))],
  ];

  const check = argv.includes('--check');
  let stale = 0;
  for (const [file, text] of outputs) {
    const current = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
    if (current === text) continue;
    if (check) {
      stale += 1;
      console.error(`${file.slice(ROOT.length)} is out of date: run npm run catalog`);
    } else {
      writeFileSync(file, text);
    }
  }
  return stale > 0 ? 1 : 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.exit(main(process.argv.slice(2)));
