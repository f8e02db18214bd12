import { Validator } from '@seriousme/openapi-schema-validator';
import { QUEUE_NAMES } from '@ceres/queues';
import { sharedRedis, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOOD_AUTH, startStack, type Stack } from './helpers/stack';

let redis: RedisPeer;
let stack: Stack;

beforeAll(async () => {
  redis = sharedRedis();
  stack = await startStack(redis);
});

afterAll(async () => {
  await stack?.close();
});

type Media = { 'application/json': { schema: unknown; example?: unknown } };
type Operation = {
  security?: unknown;
  tags?: string[];
  requestBody?: { required?: boolean; content: Media };
  responses: Record<string, { description: string; content?: Media }>;
  parameters?: Array<{ name: string; in: string }>;
};

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
      '/api/audit',
      '/api/erasure',
      '/api/jobs/search',
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
    expect(jobs.parameters!.map((parameter) => `${parameter.in}:${parameter.name}`).sort()).toEqual([
      'path:queue',
      'query:end',
      'query:start',
      'query:state',
    ]);
  });

  it('documents POST /api/erasure with examples that are what the route answers, and its errors', async () => {
    const document = (await stack.app.inject({ method: 'GET', url: '/api/openapi.json', headers: GOOD_AUTH })).json() as {
      paths: Record<string, Record<string, Operation>>;
    };
    const erasure = document.paths['/api/erasure']!.post!;
    expect(Object.keys(document.paths['/api/erasure']!)).toEqual(['post']);
    expect(erasure.tags).toEqual(['personal data']);
    expect(erasure.requestBody).toMatchObject({ required: true, content: { 'application/json': { example: { userId: 'user-123' } } } });
    expect(Object.keys(erasure.responses).sort()).toEqual(['200', '400', '4XX', '503', '5XX']);
    expect(erasure.responses['200']!.content!['application/json'].example).toEqual({
      success: true,
      jobs: 4,
      jobsByQueue: { email: 2, slack: 0, maintenance: 0, newsletter: 0, files: 2 },
      jobsStillRunning: 0,
      failedJobs: 1,
      tokens: 2,
      newsletterRecipients: 1,
      newsletterOptOuts: 0,
      sentMails: 1,
      ledgerRows: 6,
    });
    // The example names every queue, as the answer does.
    const example = erasure.responses['200']!.content!['application/json'].example as { jobsByQueue: Record<string, number> };
    expect(Object.keys(example.jobsByQueue).sort()).toEqual([...QUEUE_NAMES].sort());
    expect(erasure.responses['503']!.description).toMatch(/ERASURE_UNAVAILABLE.*QUEUE_UNAVAILABLE/);

    // The error examples are the route's real answers (this stack has no DATABASE_URL).
    const headers = { ...GOOD_AUTH, 'content-type': 'application/json' };
    const bad = await stack.app.inject({ method: 'POST', url: '/api/erasure', headers, payload: { userId: '' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual(erasure.responses['400']!.content!['application/json'].example);
    const unavailable = await stack.app.inject({ method: 'POST', url: '/api/erasure', headers, payload: { userId: 'user-123' } });
    expect(unavailable.statusCode).toBe(503);
    expect(unavailable.json()).toEqual(erasure.responses['503']!.content!['application/json'].example);
  });
});
