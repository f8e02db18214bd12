import { Type } from '@sinclair/typebox';
import { defineJob } from '../define';
import { Email, FirstName, UserId } from '../../schemas/common';

export default defineJob({
  description: 'Send the welcome mail after verification',
  schema: Type.Object({ userId: UserId, email: Email, firstName: FirstName }, { additionalProperties: false, $id: 'EmailWelcomePayload' }),
  example: { userId: 'user-123', email: 'user@example.com', firstName: 'Juan' },
  keyField: 'userId',
  ledgerKey: 'userId',
  keepResult: true,
  personal: ['email', 'firstName'],
  // Welcomed once: a second welcome while the first is kept is a duplicate.
  duplicates: 'retention',
  enqueuedBy: 'platform',
  options: ['delay', 'priority'],
});
