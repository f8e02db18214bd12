// Where the PostgreSQL server programs are: on PATH, or in Debian's /usr/lib/postgresql/<v>/bin
// (the postgresql package does not put initdb or postgres on PATH). The test harness has the
// same lookup in TypeScript (packages/testing/src/postgres-server.ts).
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The directory holding `initdb` and `postgres`, or undefined when PostgreSQL is not installed. */
export function findPostgresBinDir() {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = join(dir, 'postgres');
    if (dir && existsSync(candidate) && existsSync(join(dir, 'initdb'))) return dirname(realpathSync(candidate));
  }
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(base, v, 'bin')).find((dir) => existsSync(join(dir, 'postgres')));
}
