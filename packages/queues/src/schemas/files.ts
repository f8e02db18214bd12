import { Type, type Static } from '@sinclair/typebox';
import { FileKey, UserId } from './common';

export const ValidateCvPayload = Type.Object(
  { userId: UserId, fileKey: FileKey },
  { additionalProperties: false, $id: 'ValidateCvPayload' },
);
export type ValidateCvPayload = Static<typeof ValidateCvPayload>;

export const OptimizeProfilePicturePayload = Type.Object(
  { userId: UserId, fileKey: FileKey },
  { additionalProperties: false, $id: 'OptimizeProfilePicturePayload' },
);
export type OptimizeProfilePicturePayload = Static<typeof OptimizeProfilePicturePayload>;
