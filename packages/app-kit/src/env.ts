import { Type, type Static, type TObject } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from './config-error';
import { schemaIssues } from './schema-issues';

/**
 * Parses environment variables against a TypeBox object schema: fills defaults, converts
 * numbers and booleans from their string form, and throws a {@link ConfigError} naming the first
 * bad variable. Apps call it once at startup with their own schema.
 *
 * @example
 * const config = parseEnv(Type.Object({ API_PORT: Type.Integer({ default: 3000, minimum: 1, maximum: 65535 }) }));
 */
export function parseEnv<S extends TObject>(schema: S, env: Record<string, string | undefined> = process.env): Static<S> {
  const raw: Record<string, unknown> = {};
  for (const name of Object.keys(schema.properties)) {
    const value = env[name];
    // An empty variable (`FOO=` in a .env file) means "not set", so defaults apply.
    if (value !== undefined && value.trim() !== '') raw[name] = value.trim();
  }
  const withDefaults = Value.Default(schema, raw);
  const converted = Value.Convert(schema, withDefaults);
  const [issue] = schemaIssues(schema, converted);
  if (issue) {
    const variable = issue.field.split('.')[0] || '(environment)';
    const shown =
      typeof raw[variable] === 'string' && !/PASS|TOKEN|SECRET|KEY|URL/.test(variable) ? ` (got "${String(raw[variable])}")` : '';
    throw new ConfigError(variable, `${issue.message.replace(new RegExp(`^${variable}:? `), '')}${shown}`);
  }
  return converted as Static<S>;
}

/** `true`/`false`/`1`/`0`/`yes`/`no`/`on`/`off`, as env files write them. */
export const EnvBoolean = (options: { default?: boolean; description?: string } = {}) =>
  Type.Union([Type.Boolean(), Type.Literal('on'), Type.Literal('off'), Type.Literal('yes'), Type.Literal('no')], options);

/** Reads a value checked against {@link EnvBoolean} as a boolean. */
export function envFlag(value: boolean | 'on' | 'off' | 'yes' | 'no' | undefined): boolean {
  return value === true || value === 'on' || value === 'yes';
}

/** pino's levels, as `LOG_LEVEL` may name them. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The `LOG_LEVEL` variable every app reads. @defaultValue `info` */
export const EnvLogLevel = Type.Union(
  LOG_LEVELS.map((level) => Type.Literal(level)),
  { default: 'info', description: 'pino log level' },
);
