import { Type } from '@sinclair/typebox';
import { defineJob } from '../define';
import { Email, FirstName, UrlToken, UserId } from '../../schemas/common';

export default defineJob({
  description: 'Send the account verification mail',
  schema: Type.Object(
    {
      userId: UserId,
      email: Email,
      firstName: FirstName,
      // 6-character codes are common verification tokens.
      token: UrlToken(6, 'The verification token (6 to 256 URL-safe characters), stored in verification_tokens'),
    },
    { additionalProperties: false, $id: 'EmailVerifyPayload' },
  ),
  example: { userId: 'user-123', token: 'abc123', email: 'user@example.com', firstName: 'Juan' },
  keyField: 'userId',
  ledgerKey: 'userId',
  keepResult: true,
  personal: ['email', 'firstName', 'token'],
  // The same token again is app code retrying; a new token is a resend, and is mailed.
  duplicates: 'pending-or-same-payload',
  enqueuedBy: 'platform',
  options: ['delay', 'priority'],
});
