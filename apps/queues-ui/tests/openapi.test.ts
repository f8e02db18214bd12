import { Validator } from '@seriousme/openapi-schema-validator';
import { startRedisServer, type RedisServer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOD_AUTH, startStack, type Stack } from './helpers/stack';

let redis: RedisServer;
let stack: Stack;

beforeAll(async () => {
  redis = await startRedisServer();
  stack = await startStack(redis);
});

afterAll(async () => {
  await stack?.close();
  await redis?.close();
});

type Operation = { security?: unknown; responses: Record<string, unknown>; parameters?: Array<{ name: string; in: string }> };

describe('the OpenAPI document of the admin API (GET /api/openapi.json)', () => {
  it('needs the credentials of the API it describes', async () => {
    expect((await stack.app.inject({ method: 'GET', url: '/api/openapi.json' })).statusCode).toBe(401);
  });

  it('is valid OpenAPI 3.0 and lists every admin route with its errors, not Bull Board’s', async () => {
    const response = await stack.app.inject({ method: 'GET', url: '/api/openapi.json', headers: GOOD_AUTH });
    expect(response.statusCode).toBe(200);
    const document = response.json() as { openapi: string; paths: Record<string, Record<string, Operation>> };
    const validator = new Validator();
    const result = await validator.validate(document as never);
    expect(result.errors ?? [], JSON.stringify(result.errors)?.slice(0, 3000)).toEqual([]);
    expect(document.openapi).toBe('3.0.3');
    expect(Object.keys(document.paths).sort()).toEqual([
      '/api/queues/stats',
      '/api/queues/{queue}/clean/{state}',
      '/api/queues/{queue}/jobs',
      '/api/queues/{queue}/pause',
      '/api/queues/{queue}/resume',
      '/api/queues/{queue}/retry',
      '/api/queues/{queue}/stats',
      '/api/schedulers',
      '/api/schedulers/{id}/run',
      '/health',
      '/metrics',
    ]);
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        if (path === '/health' || path === '/metrics') continue;
        expect(operation.security, `${method} ${path}`).toEqual([{ basic: [] }]);
        expect(Object.keys(operation.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['4XX', '5XX']));
      }
    }
    const jobs = document.paths['/api/queues/{queue}/jobs']!.get!;
    expect(jobs.parameters!.map((parameter) => `${parameter.in}:${parameter.name}`).sort()).toEqual(['path:queue', 'query:end', 'query:start', 'query:state']);
  });
});
