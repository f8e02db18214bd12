import { schemaIssues, validatePayload } from '@ceres/queues';
import { sharedRedis, type RedisPeer } from '@ceres/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '@ceres/http';
import { PLATFORM_JOB_TYPES } from '../src/enqueue/platform-job-types';
import { splitOptions } from '../src/enqueue/body';
import { BatchEnvelope } from '../src/schemas/jobs';
import { startApi, TOKEN, type TestApi, validPayloads } from './helpers';

let redis: RedisPeer;
let api: TestApi;

beforeAll(async () => {
  redis = sharedRedis();
  api = await startApi(redis, { LOG_LEVEL: 'fatal' });
});

afterAll(async () => {
  await api?.close();
});

const TYPES = PLATFORM_JOB_TYPES.map((type) => `${type.queue}/${type.job}`);

/** True when some route could enqueue this body: such samples are skipped, the fuzz only sends bad ones. */
function enqueueable(body: unknown): boolean {
  const valid = (payload: unknown) =>
    TYPES.some((type) => {
      const [queue, job] = type.split('/') as [string, string];
      const { payload: rest } = splitOptions(payload);
      return validatePayload(queue, job, rest).length === 0;
    });
  if (valid(body)) return true;
  if (schemaIssues(BatchEnvelope, body).length === 0) {
    const items = (body as { items: unknown[] }).items;
    return TYPES.some((type) => {
      const [queue, job] = type.split('/') as [string, string];
      return items.every((item) => validatePayload(queue, job, item).length === 0);
    });
  }
  return false;
}

const wrongValue = fc.oneof(
  fc.constant(null),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant([]),
  fc.constant({}),
  fc.string({ maxLength: 5 }),
  fc.string({ minLength: 600, maxLength: 4000 }),
  fc.constantFrom('', ' ', 'a:b', 'line\nbreak', '\u0000', '/etc/passwd', '../../x', 'not-an-email'),
);

/** A valid payload of some job type with one thing broken. */
const brokenPayload = fc
  .tuple(fc.constantFrom(...TYPES), fc.nat(), wrongValue, fc.constantFrom('drop', 'set', 'extra', 'option'))
  .map(([type, pick, value, how]) => {
    const payload: Record<string, unknown> = { ...validPayloads[type] };
    const keys = Object.keys(payload);
    const key = keys[pick % keys.length]!;
    if (how === 'drop') delete payload[key];
    else if (how === 'set') payload[key] = value;
    else if (how === 'extra') payload[`x${pick % 7}`] = value;
    else payload[pick % 2 === 0 ? 'delay' : 'priority'] = value;
    return payload;
  });

const body = fc.oneof(
  { weight: 4, arbitrary: brokenPayload.map((payload) => JSON.stringify(payload)) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.oneof(brokenPayload, fc.constantFrom(...Object.values(validPayloads))), { maxLength: 5 })
      .map((items) => JSON.stringify({ items })),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.object({ maxDepth: 2 }).map((value) => JSON.stringify(value)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '{',
      '{"items":[',
      '{"__proto__":{"a":1}}',
      '{"constructor":{"prototype":{"a":1}}}',
      'null',
      '[]',
      '\u0000',
    ),
  },
);

const knownPaths = TYPES.flatMap((type) => [`/jobs/${type}`, `/jobs/${type}/batch`]);
const segment = fc.oneof(
  fc.constantFrom('email', 'verify', 'files', 'batch', 'maintenance', 'daily-report', '..', '%2e%2e', '%00', '%ZZ', '%2F', ''),
  fc.webSegment(),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  fc.string({ minLength: 2100, maxLength: 2500 }).map(encodeURIComponent),
);
const path = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...knownPaths) },
  { weight: 2, arbitrary: fc.tuple(segment, segment).map(([a, b]) => `/jobs/${a}/${b}`) },
  { weight: 1, arbitrary: fc.tuple(segment, segment).map(([a, b]) => `/jobs/${a}/${b}/batch`) },
  { weight: 1, arbitrary: fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...knownPaths), fc.webQueryParameters()).map(([p, q]) => `${p}?${q}`) },
);

const printable = (maxLength: number) => fc.stringMatching(new RegExp(`^[\\x20-\\x7e]{0,${maxLength}}$`));
const headers = fc.record(
  {
    'content-type': fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
      fc.constantFrom(
        'application/json',
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/jsonx',
        '',
      ),
      printable(60),
    ),
    authorization: fc.oneof(
      { weight: 8, arbitrary: fc.constant(`Bearer ${TOKEN}`) },
      { weight: 1, arbitrary: printable(80) },
      { weight: 1, arbitrary: printable(40).map((value) => `Bearer ${value}`) },
    ),
    'x-extra': printable(100),
    accept: fc.constantFrom('application/json', '*/*', 'text/html', 'application/xml'),
  },
  { requiredKeys: ['authorization'] },
);

describe('fuzzing malformed requests', () => {
  it('never answers 5xx and never enqueues a job (300 runs)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ weight: 12, arbitrary: fc.constant('POST') }, fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS')),
        path,
        headers,
        body,
        async (method, url, requestHeaders, payload) => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(payload);
          } catch {
            parsed = payload;
          }
          fc.pre(!enqueueable(parsed));
          const response = await api.app.inject({ method: method as 'POST', url, headers: requestHeaders, payload });
          expect(response.statusCode, `${method} ${url.slice(0, 100)} → ${response.body.slice(0, 200)}`).toBeLessThan(500);
          expect(response.statusCode).not.toBe(202);
          if (method !== 'HEAD' && response.statusCode >= 400) {
            const answer = response.json();
            expect(Object.keys(ERROR_CODES)).toContain(answer.code);
            expect(JSON.stringify(answer)).not.toMatch(/\bat .*\.(ts|js):\d+/);
          }
        },
      ),
      { numRuns: 300, seed: Number(process.env.FUZZ_SEED) || undefined },
    );
    expect(await api.countJobs()).toBe(0);
  });
});
