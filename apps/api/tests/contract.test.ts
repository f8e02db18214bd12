import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import { JOB_TYPES } from '@ceres/queues';
import { beforeAll, describe, expect, it } from 'vitest';
import { auth, useTestApi } from './helpers';

/**
 * The published document is the contract: values generated from its schemas alone (not from our
 * TypeBox sources) are sent to the live API. A request the document calls valid must be accepted,
 * and every answer must match the schema the document declares for its status.
 */
const ctx = useTestApi({ LOG_LEVEL: 'fatal' });

type Schema = Record<string, any>;
interface Operation {
  requestBody?: { content: Record<string, { schema: Schema; example?: unknown }> };
  parameters?: Array<{ name: string; in: string; schema: Schema; example?: unknown }>;
  responses: Record<string, { content?: Record<string, { schema: Schema }> }>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
}

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
// OpenAPI 3.0 schema objects: `nullable`, `example` and friends; formats as ajv-formats reads them.
const ajv = addFormats(new Ajv({ strict: false, allErrors: true }));
const validators = new WeakMap<Schema, ValidateFunction>();
const validatorFor = (schema: Schema) => {
  let validate = validators.get(schema);
  if (!validate) validators.set(schema, (validate = ajv.compile(schema)));
  return validate;
};
const schemaValid = (schema: Schema, value: unknown) => validatorFor(schema)(value) === true;

/** Characters a person or a tool might well send: ASCII, separators, accents, odd spaces. */
const CHAR = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  fc.constantFrom(':', '/', '.', '-', '_', ' ', '\u00a0', '\u2028', '\ufeff', 'é', 'ñ', '€', '😀', '\t'),
);
const looseString = (maxLength: number) =>
  fc
    .tuple(
      fc.constantFrom('', '', '', 'dead-', 'daily-report-', ' ', ':', '/'),
      fc.string({ unit: CHAR, maxLength: Math.min(maxLength, 40) }),
    )
    .map(([a, b]) => a + b);

/** Address parts around RFC 5321's limits (64 for the local part, 63 per label), to probe `format: email` alone. */
const around = (limit: number) =>
  fc.oneof(
    fc.stringMatching(/^[a-z0-9]{1,8}$/),
    fc.integer({ min: limit - 2, max: limit + 3 }).map((n) => 'x'.repeat(n)),
  );
const emailLike = fc
  .tuple(around(64), fc.array(around(63), { minLength: 0, maxLength: 2 }), fc.stringMatching(/^[a-z]{2,6}$/))
  .map(([local, labels, tld]) => `${local}@${[...labels, tld].join('.')}`);

/** Values for a JSON Schema of the document; candidates only: the document's validator decides. */
function arbitrary(schema: Schema): fc.Arbitrary<unknown> {
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if (Array.isArray(schema.anyOf)) return fc.oneof(...(schema.anyOf as Schema[]).map(arbitrary));
  switch (schema.type) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const required = new Set((schema.required ?? []) as string[]);
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [name, property] of Object.entries(properties)) record[name] = arbitrary(property);
      return fc.record(record, { requiredKeys: [...required] });
    }
    case 'array':
      return fc.array(arbitrary(schema.items as Schema), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 3, 3) });
    case 'integer':
      return fc.oneof(
        fc.integer({ min: schema.minimum ?? -1e9, max: schema.maximum ?? 1e9 }),
        fc.constantFrom(...[schema.minimum, schema.maximum].filter((bound) => bound !== undefined)),
      );
    case 'string': {
      const max = (schema.maxLength as number | undefined) ?? 100;
      const options: Array<fc.Arbitrary<string>> = [looseString(max)];
      // fast-check cannot generate from a lookahead (the address's local-part length): dropped from
      // the generator only; the document's validator, lookahead included, still decides.
      const generable = typeof schema.pattern === 'string' ? schema.pattern.replace(/\(\?=[^()]*\)/g, '') : undefined;
      if (generable !== undefined) options.push(fc.stringMatching(new RegExp(generable)).map((value) => value.slice(0, max)));
      // A long minimum (a token of 32 characters or more) is seldom reached at the default size.
      if (generable !== undefined && ((schema.minLength as number | undefined) ?? 0) > 8) {
        options.push(fc.stringMatching(new RegExp(generable), { size: 'large' }).map((value) => value.slice(0, max)));
      }
      if (schema.format === 'email') options.push(emailLike);
      return fc.oneof(...options);
    }
    case 'boolean':
      return fc.boolean();
    default:
      return fc.anything();
  }
}

let document: Document;
beforeAll(async () => {
  document = (await ctx.api.app.inject({ method: 'GET', url: '/docs/json' })).json() as Document;
});

function enqueueRoutes(): Array<{ path: string; operation: Operation }> {
  return Object.entries(document.paths)
    .filter(([path, methods]) => path.startsWith('/jobs/') && methods.post)
    .map(([path, methods]) => ({ path, operation: methods.post! }));
}

function responseSchema(operation: Operation, status: number): Schema | undefined {
  const declared = operation.responses[String(status)] ?? operation.responses[`${String(status)[0]}XX`];
  return declared?.content?.['application/json']?.schema;
}

describe('the API against its published OpenAPI document', () => {
  it('accepts every request the document calls valid, and answers in the declared shape', async () => {
    const routes = enqueueRoutes();
    // One route and one batch route per platform job type of the catalog.
    const platform = JOB_TYPES.filter(({ definition }) => definition.enqueuedBy === 'platform');
    expect(platform.length).toBeGreaterThanOrEqual(5);
    expect(routes.map(({ path }) => path).sort()).toEqual(platform.flatMap(({ type }) => [`/jobs/${type}`, `/jobs/${type}/batch`]).sort());
    for (const { path, operation } of routes) {
      const bodySchema = operation.requestBody!.content['application/json']!.schema;
      await fc.assert(
        fc.asyncProperty(arbitrary(bodySchema), async (body) => {
          fc.pre(schemaValid(bodySchema, body));
          const response = await ctx.api.app.inject({ method: 'POST', url: path, headers: auth(), payload: body as object });
          const declared = responseSchema(operation, response.statusCode);
          expect(declared, `${path}: status ${response.statusCode} is not declared`).toBeDefined();
          expect(schemaValid(declared!, response.json()), `${path}: the answer breaks its schema: ${response.body}`).toBe(true);
          expect(response.statusCode, `${path} refused a schema-valid body ${JSON.stringify(body)}: ${response.body}`).toBe(202);
        }),
        { numRuns: 120 },
      );
    }
  });

  it('answers job status in the declared shape', async () => {
    const operation = document.paths['/jobs/{queue}/{jobId}']!.get!;
    const accepted = await ctx.api.app.inject({
      method: 'POST',
      url: '/jobs/email/verify',
      headers: auth(),
      payload: { userId: 'status-1', email: 'a@example.com', firstName: 'A', token: 'abcdef' },
    });
    expect(accepted.statusCode).toBe(202);
    const status = await ctx.api.app.inject({
      method: 'GET',
      url: `/jobs/email/${encodeURIComponent(accepted.json().jobId)}`,
      headers: auth(),
    });
    expect(status.statusCode).toBe(200);
    expect(schemaValid(responseSchema(operation, 200)!, status.json()), status.body).toBe(true);
    expect(status.json()).toMatchObject({ failedReason: null, timestamps: { processedAt: null, finishedAt: null } });
  });

  it('pre-fills "Try it out" with realistic examples that the API accepts', async () => {
    for (const { path, operation } of enqueueRoutes()) {
      const content = operation.requestBody!.content['application/json']!;
      expect(content.example, `${path} has no example`).toBeDefined();
      expect(schemaValid(content.schema, content.example), `${path}: its example breaks its schema`).toBe(true);
      const example = content.example as Record<string, unknown>;
      // Swagger UI's own fillers: a 30-day delay, the lowest priority, symbols for strings.
      expect(example.delay ?? 0).toBeLessThanOrEqual(60_000);
      expect(example.priority ?? 1).toBeLessThanOrEqual(10);
      const response = await ctx.api.app.inject({ method: 'POST', url: path, headers: auth(), payload: example });
      expect(response.statusCode, `${path}: ${response.body}`).toBe(202);
    }
    const params = document.paths['/jobs/{queue}/{jobId}']!.get!.parameters!;
    expect(params.map((param) => [param.name, param.example ?? param.schema.example])).toEqual([
      ['queue', 'email'],
      ['jobId', 'email:verify:user-123'],
    ]);
  });
});
