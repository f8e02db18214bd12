import { FormatRegistry, Type, type StringOptions } from '@sinclair/typebox';

// A pragmatic address check (RFC 5321 lengths, one @, a dotted domain, no spaces or control
// characters); full RFC 5322 parsing accepts addresses no mail server will deliver to.
const EMAIL = /^(?=.{3,254}$)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
FormatRegistry.Set('email', (value) => EMAIL.test(value));

/** No CR, LF or other control characters: safe in mail headers and log lines. */
const SINGLE_LINE = '^[^\\u0000-\\u001f\\u007f]*$';

/** A bounded string that rejects CR/LF (header fields: names, subjects). */
export const SingleLine = (minLength: number, maxLength: number, options: StringOptions = {}) =>
  Type.String({ minLength, maxLength, pattern: SINGLE_LINE, ...options });

export const Email = Type.String({ format: 'email', maxLength: 254, description: 'An email address' });

export const UserId = SingleLine(1, 128, { description: 'The platform user id; also the key of the job id' });

export const FirstName = SingleLine(1, 100, { description: "The user's first name, as shown in the mail" });

/** A path relative to the uploads folder: no leading `/`, no backslashes, no NUL. */
export const FileKey = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern: '^[^/\\\\\\u0000-\\u001f\\u007f][^\\\\\\u0000-\\u001f\\u007f]*$',
  description: 'Path of the file relative to UPLOADS_DIR',
});

export const Empty = Type.Object({}, { additionalProperties: false });

/** The payload of a job about one uploaded file. */
export const UploadedFilePayload = ($id: string) => Type.Object({ userId: UserId, fileKey: FileKey }, { additionalProperties: false, $id });
