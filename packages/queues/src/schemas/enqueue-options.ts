import { Type, type Static } from '@sinclair/typebox';

/** BullMQ's highest priority number (1 is the most urgent). */
export const MAX_PRIORITY = 2_097_151;
/** A delay longer than this is almost certainly a unit mistake (seconds for ms). */
export const MAX_DELAY_MS = 30 * 24 * 60 * 60 * 1000;

/** Per-call options a producer may pass where the job type allows them. */
export const EnqueueOptions = Type.Object(
  {
    delay: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_DELAY_MS, description: 'Milliseconds to wait before the job may run' })),
    priority: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PRIORITY, description: '1 is the most urgent' })),
  },
  { additionalProperties: false, $id: 'EnqueueOptions' },
);
export type EnqueueOptions = Static<typeof EnqueueOptions>;
