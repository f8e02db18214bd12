import { FormatRegistry, Type, type StringOptions } from '@sinclair/typebox';

// A pragmatic address check (RFC 5321: a dot-atom local part of at most 64 characters, so no
// leading, trailing or doubled dot; one @; a dotted domain; no spaces or control characters);
// full RFC 5322 parsing accepts addresses no mail server will deliver to. The one rule: it is both
// the `email` format the validator checks and the schema's published `pattern`, so a client
// checking either (`format: email` refuses `.K@…`) gets the server's verdict.
const ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const EMAIL_PATTERN = `^(?=[^@]{1,64}@)${ATOM}(?:\\.${ATOM})*@${LABEL}(?:\\.${LABEL})+$`;
const EMAIL = new RegExp(EMAIL_PATTERN);
FormatRegistry.Set('email', (value) => EMAIL.test(value));

/** No CR, LF or other control characters: safe in mail headers and log lines. */
const SINGLE_LINE = '^[^\\u0000-\\u001f\\u007f]*$';

/** A bounded string that rejects CR/LF (header fields: names, subjects). */
export const SingleLine = (minLength: number, maxLength: number, options: StringOptions = {}) =>
  Type.String({ minLength, maxLength, pattern: SINGLE_LINE, ...options });

export const Email = Type.String({
  format: 'email',
  pattern: EMAIL_PATTERN,
  minLength: 3,
  maxLength: 254,
  description: 'An email address',
});

/**
 * A value that becomes the last part of a job id (`keyField`): single-line, no `:` (BullMQ takes ids
 * of exactly three `:`-separated parts) and not blank: what `buildJobId` enforces, written as a
 * pattern so the published schema says it. `\s` is the set `String.prototype.trim` removes.
 */
const KEY_CHAR = '[^:\\u0000-\\u001f\\u007f]';
const KEY_VISIBLE = '[^:\\s\\u0000-\\u001f\\u007f]';
export const JOB_KEY_PATTERN = `^${KEY_CHAR}*${KEY_VISIBLE}${KEY_CHAR}*$`;
const JOB_KEY_HINT =
  'must not contain ":" (BullMQ accepts ids of exactly three ":"-separated parts) nor control characters, and must not be blank: it is the key of the job id';

/** A bounded job-id key: see {@link JOB_KEY_PATTERN}. */
export const JobKey = (maxLength: number, options: StringOptions = {}) =>
  Type.String({ minLength: 1, maxLength, pattern: JOB_KEY_PATTERN, 'x-pattern-hint': JOB_KEY_HINT, ...options });

export const UserId = JobKey(128, { description: 'The platform user id; also the key of the job id' });

export const FirstName = SingleLine(1, 100, { description: "The user's first name, as shown in the mail" });

/**
 * A token the platform issued and a mail carries in its link: URL-safe characters only, between
 * `minLength` and 256 of them. `description` says which store holds it.
 */
export const UrlToken = (minLength: number, description: string) =>
  Type.String({ minLength, maxLength: 256, pattern: '^[A-Za-z0-9_-]+$', description });

/**
 * A path relative to the uploads folder: no leading `/`, no backslashes, no control characters,
 * and, as the key of the job id, no `:` and not blank (see {@link JOB_KEY_PATTERN}).
 */
export const FileKey = Type.String({
  minLength: 1,
  maxLength: 512,
  pattern:
    '^(?:[^/\\\\:\\s\\u0000-\\u001f\\u007f]|[^\\S\\u0000-\\u001f\\u007f]+[^\\\\:\\s\\u0000-\\u001f\\u007f])[^\\\\:\\u0000-\\u001f\\u007f]*$',
  description: 'Path of the file relative to UPLOADS_DIR',
  'x-pattern-hint':
    'must be a relative path (no leading "/", no "\\"), without ":" or control characters, and not blank: it is the key of the job id',
});

export const Empty = Type.Object({}, { additionalProperties: false });

/** The payload of a job about one uploaded file. */
export const UploadedFilePayload = ($id: string) => Type.Object({ userId: UserId, fileKey: FileKey }, { additionalProperties: false, $id });

/** A campaign id as PostgreSQL's `gen_random_uuid()` writes it (lower-case, no `.` or `:`). */
export const CAMPAIGN_ID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

export const CampaignId = Type.String({
  minLength: 36,
  maxLength: 36,
  pattern: CAMPAIGN_ID_PATTERN,
  description: 'The newsletter campaign id (a UUID), as POST /campaigns returned it',
});
