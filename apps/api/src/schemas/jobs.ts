import { EnqueueOptions, type EnqueueOptionName, type JobDefinition } from '@ceres/queues';
import { KindGuard, Type, type TObject, type TProperties } from '@sinclair/typebox';

/** Most payloads one batch request may carry. */
export const MAX_BATCH_ITEMS = 1000;

function payloadProperties(queue: string, job: string, definition: JobDefinition): TProperties {
  if (!KindGuard.IsObject(definition.schema)) throw new Error(`${queue}/${job}: the API needs an object payload schema`);
  const properties = (definition.schema as TObject).properties;
  for (const option of Object.keys(EnqueueOptions.properties)) {
    // The body carries the payload and the options side by side, so their names must not meet.
    if (option in properties) throw new Error(`${queue}/${job}: payload field "${option}" clashes with the enqueue option`);
  }
  const key = definition.keyField;
  if (!key || !definition.reservedKeyPrefixes?.length || !properties[key]) return properties;
  // The producers refuse the worker's reserved key prefixes: the published schema says so too.
  const escaped = definition.reservedKeyPrefixes.map((prefix) => prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const reserved = {
    pattern: `^(?:${escaped.join('|')})`,
    description: `reserved for the worker: ${definition.reservedKeyPrefixes.join(', ')}`,
  };
  return { ...properties, [key]: { ...properties[key], not: reserved } };
}

function optionProperties(allowed: readonly EnqueueOptionName[]): TProperties {
  return Object.fromEntries(allowed.map((name) => [name, EnqueueOptions.properties[name]]));
}

/**
 * The body of `POST /jobs/:queue/:job`: the payload's own fields plus the enqueue options the
 * job type allows, all at the top level. It is the route's validator (enqueue/body.ts).
 */
export function enqueueBodySchema(queue: string, job: string, definition: JobDefinition) {
  return Type.Object(
    { ...payloadProperties(queue, job, definition), ...optionProperties(definition.options) },
    // The definition's example is what Swagger UI's "Try it out" pre-fills.
    { additionalProperties: false, description: definition.description, examples: [definition.example] },
  );
}

/** The body of `POST /jobs/:queue/:job/batch`: the payloads under `items`, options for all of them. */
export function batchBodySchema(queue: string, job: string, definition: JobDefinition) {
  return Type.Object(
    {
      items: Type.Array(Type.Object(payloadProperties(queue, job, definition), { additionalProperties: false }), {
        minItems: 1,
        maxItems: MAX_BATCH_ITEMS,
      }),
      ...optionProperties(definition.options),
    },
    {
      additionalProperties: false,
      description: `${definition.description} (batch, all or nothing)`,
      examples: [{ items: [definition.example] }],
    },
  );
}

/** What the batch handler checks before QueueClient validates each item. */
export const BatchEnvelope = Type.Object(
  {
    items: Type.Array(Type.Unknown(), { minItems: 1, maxItems: MAX_BATCH_ITEMS }),
    delay: Type.Optional(Type.Unknown()),
    priority: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);

export const EnqueueAccepted = Type.Object({
  jobId: Type.String(),
  queue: Type.String(),
  job: Type.String(),
  duplicate: Type.Boolean({ description: 'True when a job with this id already existed; nothing new was enqueued' }),
});

export const BatchAccepted = Type.Object({
  queue: Type.String(),
  job: Type.String(),
  items: Type.Array(Type.Object({ jobId: Type.String(), duplicate: Type.Boolean() }), {
    description: 'One entry per payload, in request order',
  }),
});

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()]);

export const JobStatusParams = Type.Object({
  queue: Type.String({ description: 'The queue name, e.g. email', examples: ['email'] }),
  jobId: Type.String({ minLength: 1, description: 'The job id as returned on enqueue, URL-encoded', examples: ['email:verify:user-123'] }),
});

export const JobStatus = Type.Object({
  jobId: Type.String(),
  queue: Type.String(),
  job: Type.String(),
  state: Type.String({ description: 'waiting, delayed, prioritized, active, completed, failed, waiting-children or unknown' }),
  progress: Type.Unknown(),
  attemptsMade: Type.Integer(),
  failedReason: Nullable(Type.String()),
  returnValue: Type.Unknown(),
  timestamps: Type.Object({
    createdAt: Type.Integer({ description: 'ms since the epoch' }),
    processedAt: Nullable(Type.Integer()),
    finishedAt: Nullable(Type.Integer()),
  }),
});

export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  redis: Type.Union([Type.Literal('up'), Type.Literal('down')]),
});
