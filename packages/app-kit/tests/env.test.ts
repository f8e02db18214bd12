import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { ConfigError, EnvBoolean, envFlag, parseEnv } from '../src';

const Schema = Type.Object({
  API_PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 3000 }),
  API_HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  API_TOKENS: Type.Optional(Type.String({ minLength: 1 })),
  API_AUTH: EnvBoolean({ default: true }),
});

describe('parseEnv', () => {
  it('fills defaults and converts strings', () => {
    expect(parseEnv(Schema, { API_PORT: '8080', API_AUTH: 'off' })).toEqual({
      API_PORT: 8080,
      API_HOST: '127.0.0.1',
      API_AUTH: 'off',
    });
    expect(envFlag(parseEnv(Schema, { API_AUTH: 'false' }).API_AUTH)).toBe(false);
    expect(envFlag(parseEnv(Schema, {}).API_AUTH)).toBe(true);
  });

  it('treats an empty variable as unset', () => {
    expect(parseEnv(Schema, { API_PORT: '' }).API_PORT).toBe(3000);
  });

  it.each([
    [{ API_PORT: 'eighty' }, /^API_PORT: must be an integer \(got "eighty"\)$/],
    [{ API_PORT: '70000' }, /^API_PORT: must be at most 65535/],
    [{ API_AUTH: 'maybe' }, /^API_AUTH: /],
  ])('names the bad variable in %o', (env, message) => {
    expect(() => parseEnv(Schema, env)).toThrow(ConfigError);
    expect(() => parseEnv(Schema, env)).toThrow(message);
  });

  it('never echoes secrets', () => {
    const Secret = Type.Object({ API_TOKENS: Type.String({ minLength: 20 }) });
    expect(() => parseEnv(Secret, { API_TOKENS: 'short-secret' })).toThrow(/^API_TOKENS: must be at least 20/);
    expect(() => parseEnv(Secret, { API_TOKENS: 'short-secret' })).not.toThrow(/short-secret/);
  });
});
