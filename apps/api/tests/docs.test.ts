import { EnqueueOptions } from '@ceres/queues';
import { describe, expect, it } from 'vitest';
import { PLATFORM_JOB_TYPES } from '../src/enqueue/platform-job-types';
import { useTestApi } from './helpers';

const ctx = useTestApi();

interface OpenApi {
  paths: Record<string, Record<string, { security?: unknown; requestBody?: { content: Record<string, { schema: Record<string, any> }> } }>>;
}

describe('GET /docs', () => {
  it('serves the Swagger UI without a token', async () => {
    const response = await ctx.api.app.inject({ method: 'GET', url: '/docs' });
    expect(response.statusCode).toBeLessThan(400);
    const page =
      response.statusCode === 200 ? response : await ctx.api.app.inject({ method: 'GET', url: String(response.headers.location) });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
  });

  it('generates OpenAPI from the registry schemas: every route, bodies with the payload fields and allowed options', async () => {
    const response = await ctx.api.app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json() as OpenApi;
    const expected = [
      '/health',
      '/jobs/{queue}/{jobId}',
      '/campaigns',
      '/campaigns/{id}',
      '/campaigns/{id}/recipients',
      '/campaigns/{id}/start',
      '/campaigns/{id}/cancel',
      '/unsubscribe',
      ...PLATFORM_JOB_TYPES.flatMap(({ queue, job }) => [`/jobs/${queue}/${job}`, `/jobs/${queue}/${job}/batch`]),
    ];
    expect(Object.keys(doc.paths).sort()).toEqual(expected.sort());
    for (const { queue, job, definition } of PLATFORM_JOB_TYPES) {
      const single = doc.paths[`/jobs/${queue}/${job}`]!.post!;
      expect(single.security).toEqual([{ bearer: [] }]);
      const schema = single.requestBody!.content['application/json']!.schema;
      const payload = definition.schema as unknown as { properties: Record<string, unknown>; required?: string[] };
      expect(Object.keys(schema.properties).sort()).toEqual([...Object.keys(payload.properties), ...definition.options].sort());
      expect(schema.required ?? []).toEqual(payload.required ?? []);
      for (const option of definition.options) {
        expect(schema.properties[option]).toMatchObject({ maximum: EnqueueOptions.properties[option].maximum });
      }
      const batch = doc.paths[`/jobs/${queue}/${job}/batch`]!.post!.requestBody!.content['application/json']!.schema;
      expect(batch.properties.items).toMatchObject({ type: 'array', maxItems: 1000 });
      expect(Object.keys(batch.properties.items.items.properties).sort()).toEqual(Object.keys(payload.properties).sort());
    }
    expect(doc.paths['/health']!.get!.security).toBeUndefined();
    // The one-click unsubscribe is public (its token is the proof); the campaign routes need a token.
    expect(doc.paths['/unsubscribe']!.post!.security).toBeUndefined();
    for (const path of ['/campaigns', '/campaigns/{id}/recipients', '/campaigns/{id}/start', '/campaigns/{id}/cancel']) {
      expect(doc.paths[path]!.post!.security, path).toEqual([{ bearer: [] }]);
    }
    expect(doc.paths['/campaigns/{id}']!.get!.security).toEqual([{ bearer: [] }]);
  });

  // Issue 24 item 25: the description said only /health and /docs were public.
  it('says in its description which routes need no token: exactly those without a security requirement, and /docs', async () => {
    const doc = (await ctx.api.app.inject({ method: 'GET', url: '/docs/json' })).json() as OpenApi & { info: { description: string } };
    const publicRoutes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, operation]) => operation.security === undefined)
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(publicRoutes.sort()).toEqual(['GET /health', 'POST /unsubscribe']);
    const { description } = doc.info;
    for (const route of [...publicRoutes, 'GET /docs']) expect(description, route).toContain(route);
    expect(description).toMatch(/every other route needs a bearer token/i);
  });
});
