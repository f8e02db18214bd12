import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { useTestApi } from './helpers';

const ctx = useTestApi();

describe('the OpenAPI document of the API', () => {
  it('is valid for the OpenAPI version it declares (checked by @seriousme/openapi-schema-validator)', async () => {
    const response = await ctx.api.app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const document = response.json() as { openapi: string };
    const validator = new Validator();
    const result = await validator.validate(document as never);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)?.slice(0, 3000)).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe(document.openapi.split('.').slice(0, 2).join('.'));
  });
});
