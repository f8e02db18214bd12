import { Type } from '@sinclair/typebox';
import { defineJob } from '../define';

export default defineJob({
  description: "Post one queue's digest of the dead letters of one minute, beyond DEAD_LETTER_DIGEST_AFTER",
  schema: Type.Object(
    {
      bucket: Type.String({
        pattern: '^[a-z][a-z0-9-]{0,63}\\.[0-9]{1,12}$',
        description: '`<queue>.<minute>`: the queue and the minute (since the epoch) the dead letters were recorded in',
      }),
    },
    { additionalProperties: false, $id: 'DeadLetterDigestPayload' },
  ),
  example: { bucket: 'email.29413440' },
  // One digest per queue and minute, however many processes ask for it.
  keyField: 'bucket',
  enqueuedBy: 'worker',
  options: ['delay'],
});
