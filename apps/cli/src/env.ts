import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';

export type Env = Record<string, string | undefined>;

/**
 * The environment the apps get from `npm start`: `.env`, then `var/stack.env` (the URLs of the
 * local Redis and PostgreSQL it runs), both in the current directory; the shell's variables win.
 * An empty value counts as unset.
 */
export function loadCliEnv(cwd: string = process.cwd(), shell: NodeJS.ProcessEnv = process.env): Env {
  const env: Env = { ...readEnvFile(join(cwd, '.env')), ...readEnvFile(join(cwd, 'var', 'stack.env')) };
  for (const [name, value] of Object.entries(shell)) if (value) env[name] = value;
  return env;
}

function readEnvFile(path: string): Env {
  return existsSync(path) ? parseEnv(readFileSync(path, 'utf8')) : {};
}
