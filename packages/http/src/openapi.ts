import swagger from '@fastify/swagger';
import type { FastifySchema } from 'fastify';
import { definePlugin } from './plugin';

/**
 * Rewrites JSON Schema that OpenAPI 3.0 does not know into its 3.0 form, in place: TypeBox writes
 * `Type.Null()` as `{ type: 'null' }` (3.1 only; 3.0 says `nullable: true`) and `Type.Literal` as
 * `const` (3.0 has only `enum`). Pass it as @fastify/swagger's `transformObject`.
 */
export function toOpenApi30<T>(document: T): T {
  visit(document);
  return document;
}

type Node = Record<string, unknown>;
const isNode = (value: unknown): value is Node => typeof value === 'object' && value !== null;

function visit(value: unknown): void {
  if (Array.isArray(value)) {
    value.forEach(visit);
    return;
  }
  if (!isNode(value)) return;
  for (const child of Object.values(value)) visit(child);
  if ('const' in value && !('enum' in value)) {
    value.enum = [value.const];
    delete value.const;
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    const options = value[key];
    if (!Array.isArray(options) || !options.some(isNull)) continue;
    const rest = options.filter((option) => !isNull(option));
    if (rest.length === 1 && isNode(rest[0])) {
      delete value[key];
      Object.assign(value, rest[0], { nullable: true });
    } else {
      value[key] = rest;
      value.nullable = true;
    }
  }
}

const isNull = (schema: unknown) => isNode(schema) && schema.type === 'null';

export interface OpenApiOptions {
  title: string;
  description: string;
  /** e.g. `{ bearer: { type: 'http', scheme: 'bearer' } }` */
  securitySchemes: Record<string, { type: 'http'; scheme: string }>;
  /** Routes under these prefixes are left out (another library's routes, e.g. Bull Board's). */
  hidePrefixes?: readonly string[];
}

/** A route's description names the token scope it needs (`config.tokenScope`), where it has one. */
function withTokenScope(schema: FastifySchema, scope: string | undefined): FastifySchema {
  // A route without a schema has none to describe (@fastify/swagger passes it undefined).
  if (!schema || scope === undefined) return schema;
  const { description } = schema as { description?: string };
  const needs = `Needs a token with the \`${scope}\` scope (else 403 SCOPE_REQUIRED).`;
  return { ...schema, description: description ? `${description} ${needs}` : needs } as FastifySchema;
}

/**
 * The OpenAPI 3.0.3 document of the routes registered after it, from their schemas
 * (@fastify/swagger): the same request, response and error schemas that validate and serialise.
 */
export const openApiPlugin = definePlugin<OpenApiOptions>(
  { name: '@ceres/http/openapi', dependencies: [] },
  async (app, { title, description, securitySchemes, hidePrefixes = [] }) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: { title, description, version: '1.0.0' },
        components: { securitySchemes },
      },
      transform: ({ schema, url, route }) => ({
        schema: hidePrefixes.some((prefix) => url.startsWith(prefix))
          ? { ...schema, hide: true }
          : withTokenScope(schema, route.config?.tokenScope),
        url,
      }),
      // The route schemas are TypeBox's JSON Schema; the document declares 3.0.3 and must be valid 3.0.
      transformObject: (document) => toOpenApi30('openapiObject' in document ? document.openapiObject : document.swaggerObject),
    });
  },
);
