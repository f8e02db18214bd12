import { Type, type Static } from '@sinclair/typebox';

const FieldIssue = Type.Object({
  field: Type.String({ description: 'Dotted path of the field, "" for the body itself' }),
  message: Type.String(),
});

/** Every error response: a stable `code`, a message naming the field, and the details that apply. */
export const ApiErrorBody = Type.Object(
  {
    code: Type.String({ description: 'Stable error code, e.g. INVALID_BODY' }),
    message: Type.String(),
    issues: Type.Optional(Type.Array(FieldIssue, { description: 'Each bad field (400)' })),
    items: Type.Optional(
      Type.Array(Type.Object({ index: Type.Integer(), issues: Type.Array(FieldIssue) }), {
        description: 'Each rejected batch item by its position (400 on a batch)',
      }),
    ),
    known: Type.Optional(Type.Array(Type.String(), { description: 'The known job types or queues (404)' })),
  },
  { description: 'An error' },
);
export type ApiErrorBody = Static<typeof ApiErrorBody>;

/** Error responses of every route; a schema here keeps serialisation to the declared fields. */
export const errorResponses = { '4xx': ApiErrorBody, '5xx': ApiErrorBody } as const;
