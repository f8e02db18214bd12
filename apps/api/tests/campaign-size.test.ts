import { sharedPostgres, sharedRedis, type PostgresPeer, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApi, type TestApi } from './helpers';

// Issue 24 item 12, against a real PostgreSQL and Redis.
let redis: RedisPeer;
let postgres: PostgresPeer;
let api: TestApi;

beforeAll(async () => {
  redis = sharedRedis();
  postgres = await sharedPostgres();
  api = await startApi(redis, { DATABASE_URL: postgres.url });
}, 60_000);

afterAll(async () => {
  await api?.close();
  await postgres?.close();
});

const create = (body: Record<string, unknown>) => api.app.inject({ method: 'POST', url: '/campaigns', headers: auth(), payload: body });

describe('POST /campaigns bounds the rendered mail (issue 24)', () => {
  it.each([
    ['html', { subject: 'S', text: 'T', html: '{{unsubscribeUrl}}'.repeat(27_000) }],
    ['text', { subject: 'S', text: '{{unsubscribeUrl}}'.repeat(5_000) }],
    ['text', { subject: 'S', text: '{{firstName}}'.repeat(7_000) }],
    ['subject', { subject: '{{unsubscribeUrl}}'.repeat(11), text: 'T' }],
  ])('item 12: a template whose rendering can outgrow the limit is a 400 naming %s, and nothing is created', async (field, body) => {
    const before = (await api.db.pool.query('SELECT count(*)::int AS n FROM newsletter_campaigns')).rows[0].n;
    const response = await create(body);
    expect(response.statusCode, response.body.slice(0, 300)).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_BODY', field });
    expect(response.json().message).toMatch(new RegExp(`^${field}: .*characters`));
    expect((await api.db.pool.query('SELECT count(*)::int AS n FROM newsletter_campaigns')).rows[0].n).toBe(before);
  });

  it('item 12: a long template with a few placeholders is accepted', async () => {
    const response = await create({
      subject: 'Hola {{firstName}}',
      text: `${'x'.repeat(90_000)} {{unsubscribeUrl}}`,
      html: `<p>${'y'.repeat(400_000)}</p><a href="{{unsubscribeUrl}}">baja</a> {{firstName}}`,
    });
    expect(response.statusCode, response.body.slice(0, 300)).toBe(201);
  });
});
