import { Type, type Static } from '@sinclair/typebox';
import { Email, FirstName, UserId } from './common';

export const EmailVerifyPayload = Type.Object(
  {
    userId: UserId,
    email: Email,
    firstName: FirstName,
    token: Type.String({
      minLength: 16,
      maxLength: 256,
      pattern: '^[A-Za-z0-9_-]+$',
      description: 'The verification token (URL-safe), stored in verification_tokens',
    }),
  },
  { additionalProperties: false, $id: 'EmailVerifyPayload' },
);
export type EmailVerifyPayload = Static<typeof EmailVerifyPayload>;

export const EmailWelcomePayload = Type.Object(
  { userId: UserId, email: Email, firstName: FirstName },
  { additionalProperties: false, $id: 'EmailWelcomePayload' },
);
export type EmailWelcomePayload = Static<typeof EmailWelcomePayload>;
