import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
// Node's .env reader, not app-kit's parseEnv (which checks variables against a schema).
import { parseEnv as parseEnvFile } from 'node:util';
import { ACCOUNT_NAME, EnvLogLevel, parseEnv } from '@ceres/app-kit';
import { Type } from '@sinclair/typebox';

export type Env = Record<string, string | undefined>;

/**
 * Every variable the CLI reads itself, as the apps declare theirs (app-kit's `parseEnv` over a
 * TypeBox schema, a bad one a `ConfigError` naming it): besides these, the queues' (`QueuesEnv`),
 * and for `work` the worker's (`WorkerEnv`).
 */
export const CliEnv = Type.Object({
  DATABASE_URL: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        'PostgreSQL, for the commands that read it (failed, replay, erase, work, tenants, tokens), e.g. postgres://user:pass@127.0.0.1:5432/ceres',
    }),
  ),
  LOG_LEVEL: EnvLogLevel,
  CERES_JOBS_USER: Type.Optional(
    Type.String({
      pattern: ACCOUNT_NAME.source,
      description:
        'run as this operator account (`ceres-jobs users add`), with CERES_JOBS_PASSWORD: its role gates every command, its tenant confines them. Unset: the OS user, admin',
    }),
  ),
  CERES_JOBS_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: "the password of CERES_JOBS_USER's account" })),
});

/** The CLI's own settings, read from {@link CliEnv}; throws a `ConfigError` naming the bad variable. */
export function loadCliConfig(env: Env) {
  const parsed = parseEnv(CliEnv, env);
  return { logLevel: parsed.LOG_LEVEL, user: parsed.CERES_JOBS_USER, password: parsed.CERES_JOBS_PASSWORD };
}

export type CliConfig = ReturnType<typeof loadCliConfig>;

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
  return existsSync(path) ? parseEnvFile(readFileSync(path, 'utf8')) : {};
}
