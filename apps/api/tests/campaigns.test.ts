import { signUnsubscribeToken } from '@ceres/app-kit';
import { sharedPostgres, sharedRedis, type PostgresPeer, type RedisPeer } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, startApi, UNSUBSCRIBE_SECRET, type TestApi } from './helpers';

// The newsletter routes against a real PostgreSQL and Redis; the worker's side is in
// apps/worker/tests/newsletter.test.ts.
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

const post = (url: string, payload?: unknown, headers: Record<string, string> = auth()) =>
  api.app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });
const get = (url: string) => api.app.inject({ method: 'GET', url, headers: auth() });

async function createCampaign(
  body: Record<string, unknown> = { subject: 'Hola {{firstName}}', text: 'Texto {{unsubscribeUrl}}' },
): Promise<string> {
  const response = await post('/campaigns', body);
  expect(response.statusCode, response.body).toBe(201);
  return response.json().campaignId as string;
}

const recipients = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => ({ userId: `u-${from + i}`, email: `u${from + i}@example.com`, firstName: `Name ${from + i}` }));

describe('POST /campaigns', () => {
  it('creates a draft: 201 { campaignId }, and GET shows it with zero figures', async () => {
    const id = await createCampaign({ subject: 'Novedades', text: 'Hola {{ firstName }}', html: '<p>{{unsubscribeUrl}}</p>' });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const status = await get(`/campaigns/${id}`);
    expect(status.statusCode).toBe(200);
    expect(status.json()).toEqual({
      campaignId: id,
      state: 'draft',
      total: 0,
      sent: 0,
      failed: 0,
      pending: 0,
      unsubscribed: 0,
      cancelled: 0,
    });
  });

  it.each([
    [{ subject: 'Hi {{lastName}}', text: 'x' }, 'subject', /unknown placeholder \{\{lastName\}\}/],
    [{ subject: 'Hi', text: 'Token {{ token }}' }, 'text', /unknown placeholder/],
    [{ subject: 'Hi', text: 'x', html: '<p>{{user.email}}</p>' }, 'html', /unknown placeholder/],
    [{ subject: 'Hi\r\nBcc: victim@example.com', text: 'x' }, 'subject', /subject/],
    [{ subject: '', text: 'x' }, 'subject', /subject/],
    [{ subject: 'Hi' }, 'text', /text/],
    [{ subject: 'Hi', text: 'x', from: 'boss@example.com' }, 'from', /from/],
  ])('refuses %j with 400 naming the field', async (body, field, message) => {
    const response = await post('/campaigns', body);
    expect(response.statusCode, response.body).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_BODY', field });
    expect(response.json().message).toMatch(message);
  });

  it('needs the bearer token', async () => {
    const response = await post('/campaigns', { subject: 'Hi', text: 'x' }, {});
    expect(response.statusCode).toBe(401);
    expect((await api.app.inject({ method: 'GET', url: '/campaigns/0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b' })).statusCode).toBe(401);
  });
});

describe('POST /campaigns/:id/recipients', () => {
  it('adds up to 1,000 per call and counts duplicates, in the call and across calls', async () => {
    const id = await createCampaign();
    const first = await post(`/campaigns/${id}/recipients`, { recipients: recipients(0, 1000) });
    expect(first.statusCode, first.body).toBe(202);
    expect(first.json()).toEqual({ added: 1000, duplicates: 0 });
    // u-990…u-999 are in already, u-1005…u-1009 come twice: 10 added, 15 duplicates.
    const twice = [...recipients(990, 20), ...recipients(1005, 5)];
    const second = await post(`/campaigns/${id}/recipients`, { recipients: twice });
    expect(second.json()).toEqual({ added: 10, duplicates: 15 });
    expect((await get(`/campaigns/${id}`)).json()).toMatchObject({ state: 'draft', total: 1010, pending: 1010 });
  });

  it('refuses 1,001 recipients, naming the field, and adds none', async () => {
    const id = await createCampaign();
    const response = await post(`/campaigns/${id}/recipients`, { recipients: recipients(0, 1001) });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_BODY', field: 'recipients' });
    expect((await get(`/campaigns/${id}`)).json()).toMatchObject({ total: 0 });
  });

  it.each([
    [{ userId: 'u-1', email: 'not-an-address', firstName: 'A' }, 'recipients.0.email'],
    [{ userId: 'u-1', email: 'a@example.com', firstName: 'A\nB' }, 'recipients.0.firstName'],
    [{ userId: 'u:1', email: 'a@example.com', firstName: 'A' }, 'recipients.0.userId'],
    [{ userId: 'u-1', email: 'a@example.com' }, 'recipients.0.firstName'],
  ])('refuses a bad recipient %j naming %s', async (recipient, field) => {
    const id = await createCampaign();
    const response = await post(`/campaigns/${id}/recipients`, { recipients: [recipient] });
    expect(response.statusCode).toBe(400);
    expect(response.json().field).toBe(field);
  });

  it('answers 404 for an unknown campaign, 400 naming id for a malformed one, 409 once started', async () => {
    const unknown = await post('/campaigns/0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b/recipients', { recipients: recipients(0, 1) });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().code).toBe('CAMPAIGN_NOT_FOUND');
    const malformed = await post('/campaigns/not-a-uuid/recipients', { recipients: recipients(0, 1) });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ code: 'INVALID_REQUEST', field: 'id' });

    const id = await createCampaign();
    await post(`/campaigns/${id}/recipients`, { recipients: recipients(0, 2) });
    expect((await post(`/campaigns/${id}/start`)).statusCode).toBe(202);
    const late = await post(`/campaigns/${id}/recipients`, { recipients: recipients(5, 1) });
    expect(late.statusCode).toBe(409);
    expect(late.json()).toMatchObject({ code: 'CAMPAIGN_STATE_CONFLICT' });
    expect(late.json().message).toMatch(/sending/);
  });
});

describe('start and cancel', () => {
  it('start: 202, state sending, one fan-out job; again: 202 and still one job', async () => {
    const id = await createCampaign();
    await post(`/campaigns/${id}/recipients`, { recipients: recipients(0, 3) });
    const started = await post(`/campaigns/${id}/start`);
    expect(started.statusCode).toBe(202);
    expect(started.json()).toEqual({ campaignId: id, state: 'sending' });
    expect((await post(`/campaigns/${id}/start`)).statusCode).toBe(202);
    const queue = api.queues.getQueue('newsletter');
    expect(await queue.getJobState(`newsletter:fan-out:${id}`)).toBe('waiting');
    const waiting = await queue.getJobs(['waiting']);
    expect(waiting.filter((job) => job.data.campaignId === id).map((job) => job.id)).toEqual([`newsletter:fan-out:${id}`]);
    expect((await get(`/campaigns/${id}`)).json()).toMatchObject({ state: 'sending', total: 3, pending: 3 });
  });

  it('cancel: every pending recipient is cancelled; a cancelled campaign cannot be started', async () => {
    const id = await createCampaign();
    await post(`/campaigns/${id}/recipients`, { recipients: recipients(0, 4) });
    await post(`/campaigns/${id}/start`);
    const cancelled = await post(`/campaigns/${id}/cancel`);
    expect(cancelled.statusCode).toBe(202);
    expect(cancelled.json()).toEqual({ campaignId: id, state: 'cancelled' });
    expect((await get(`/campaigns/${id}`)).json()).toMatchObject({ state: 'cancelled', total: 4, pending: 0, cancelled: 4 });
    expect((await post(`/campaigns/${id}/cancel`)).statusCode).toBe(202);
    const restart = await post(`/campaigns/${id}/start`);
    expect(restart.statusCode).toBe(409);
    expect(restart.json().code).toBe('CAMPAIGN_STATE_CONFLICT');
  });
});

describe('POST /unsubscribe', () => {
  it('records the opt-out of a signed token without a bearer token, with the one-click form body', async () => {
    const id = await createCampaign();
    await post(`/campaigns/${id}/recipients`, { recipients: [{ userId: 'u-unsub', email: 'Unsub@Example.com', firstName: 'U' }] });
    const t = signUnsubscribeToken(UNSUBSCRIBE_SECRET, { campaignId: id, userId: 'u-unsub' });
    const oneClick = () =>
      api.app.inject({
        method: 'POST',
        url: `/unsubscribe?t=${encodeURIComponent(t)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'List-Unsubscribe=One-Click',
      });
    const first = await oneClick();
    expect(first.statusCode, first.body).toBe(200);
    expect(first.json()).toEqual({ unsubscribed: true, already: false });
    expect((await oneClick()).json()).toEqual({ unsubscribed: true, already: true });
    const { rows } = await api.db.pool.query('SELECT email, user_id FROM newsletter_unsubscribes');
    expect(rows).toContainEqual({ email: 'unsub@example.com', user_id: 'u-unsub' });
  });

  it.each([
    ['missing', ''],
    ['garbage', '?t=hello'],
    [
      'signed with another secret',
      `?t=${signUnsubscribeToken('another-secret-0123456789', { campaignId: '0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b', userId: 'u-1' })}`,
    ],
  ])('refuses a %s token with 400 naming t', async (_label, query) => {
    const response = await api.app.inject({ method: 'POST', url: `/unsubscribe${query}` });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_REQUEST', field: 't' });
  });

  it('refuses a token whose signature was altered, and one naming another user', async () => {
    const id = await createCampaign();
    const t = signUnsubscribeToken(UNSUBSCRIBE_SECRET, { campaignId: id, userId: 'u-1' });
    const flipped = t.slice(0, -1) + (t.endsWith('A') ? 'B' : 'A');
    expect((await api.app.inject({ method: 'POST', url: `/unsubscribe?t=${flipped}` })).statusCode).toBe(400);
    const [campaign, , signature] = t.split('.');
    const other = `${campaign}.${Buffer.from('u-2').toString('base64url')}.${signature}`;
    expect((await api.app.inject({ method: 'POST', url: `/unsubscribe?t=${other}` })).statusCode).toBe(400);
    // A valid token naming nobody in the campaign.
    expect((await api.app.inject({ method: 'POST', url: `/unsubscribe?t=${t}` })).statusCode).toBe(404);
  });
});
