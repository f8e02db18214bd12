import { Type } from '@sinclair/typebox';
import { defineJob } from '../define';
import { Email, FirstName, UrlToken, UserId } from '../../schemas/common';

export default defineJob({
  description: 'Send the password reset mail (a link with a reset token)',
  schema: Type.Object(
    {
      userId: UserId,
      email: Email,
      firstName: FirstName,
      // Long enough not to be guessed: 32 random bytes in base64url are 43 characters.
      token: UrlToken(32, 'The password reset token (32 to 256 URL-safe characters), stored hashed in password_reset_tokens'),
    },
    { additionalProperties: false, $id: 'EmailPasswordResetPayload' },
  ),
  example: { userId: 'user-123', email: 'user@example.com', firstName: 'Juan', token: 'p6Vq2h9sLwX4mZcR8tYb1nKd3fGj7uQe5aHs0vWxYz2' },
  keyField: 'userId',
  ledgerKey: 'userId',
  keepResult: true,
  personal: ['email', 'firstName', 'token'],
  // As email/verify: the same token again is app code retrying; a new token is a new request, and is mailed.
  duplicates: 'pending-or-same-payload',
  enqueuedBy: 'platform',
  options: ['delay', 'priority'],
  tokenStore: 'password_reset_tokens',
});
