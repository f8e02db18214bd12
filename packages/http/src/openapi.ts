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
