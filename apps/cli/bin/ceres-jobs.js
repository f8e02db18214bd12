#!/usr/bin/env node
// The npm bin: runs the build of src/main.ts, or says how to make it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
if (!existsSync(main)) {
  console.error('ceres-jobs: not built yet; run `npm run build` in the repository first');
  process.exit(1);
}
await import(main);
