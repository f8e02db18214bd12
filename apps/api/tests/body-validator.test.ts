// The enqueue routes' validator: the published schema decides, the producers' checks explain.
import { errorHandlerPlugin, HttpError } from '@ceres/http';
import { Type } from '@sinclair/typebox';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyBySchema } from '../src/enqueue/body';

const app = Fastify();
const explained: unknown[] = [];

beforeAll(async () => {
  await app.register(errorHandlerPlugin);
  const body = Type.Object({ code: Type.String({ minLength: 3 }) }, { additionalProperties: false });
  const route = (url: string, explain: (body: unknown) => HttpError | undefined) =>
    app.post(url, { schema: { body }, validatorCompiler: bodyBySchema(explain) }, async (request) => ({ got: request.body }));
  // The producers would take anything: the schema alone must refuse.
  route('/lenient', (data) => {
    explained.push(data);
    return undefined;
  });
  route('/explained', () => new HttpError('INVALID_BODY', 'code is too short for the producer', { field: 'code' }));
  await app.ready();
});

afterAll(() => app.close());

describe('bodyBySchema', () => {
  it('passes a body the schema accepts, untouched, without asking for an explanation', async () => {
    const response = await app.inject({ method: 'POST', url: '/lenient', payload: { code: 'abc' } });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ got: { code: 'abc' } });
    expect(explained).toEqual([]);
  });

  it('refuses what the schema refuses even when the producers would not, naming the field', async () => {
    for (const payload of [{ code: 'ab' }, { code: 'abc', extra: 1 }, {}]) {
      const response = await app.inject({ method: 'POST', url: '/lenient', payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json().code).toBe('INVALID_BODY');
      expect(response.json().message).toMatch(/^invalid body: /);
    }
    expect((await app.inject({ method: 'POST', url: '/lenient', payload: { code: 'ab' } })).json()).toMatchObject({
      field: 'code',
      message: 'invalid body: code must be at least 3 characters long',
    });
    expect(explained).toHaveLength(4);
  });

  it("answers a refused body with the producers' explanation when they give one", async () => {
    const response = await app.inject({ method: 'POST', url: '/explained', payload: { code: 'ab' } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_BODY', message: 'code is too short for the producer', field: 'code' });
  });
});
