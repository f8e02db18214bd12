import { describe, expect, it } from 'vitest';
import { parsePayload, PayloadValidationError, UnknownJobTypeError, validatePayload } from '../src';

const goodVerify = { userId: 'user-123', email: 'juan@example.com', firstName: 'Juan', token: 'abcdefghijklmnop1234' };

describe('payload schemas', () => {
  // Every job type's own example is checked in tests/catalog.test.ts.
  it.each([
    ['a 6-character code', 'abc123'],
    ['a 256-character token', 'a'.repeat(256)],
    ['URL-safe punctuation', 'Ab_9-xY'],
  ])('accept %s as the email/verify token', (_what, token) => {
    expect(validatePayload('email', 'verify', { ...goodVerify, token })).toEqual([]);
  });

  it.each([
    ['userId', { userId: '' }, /userId must be at least 1 character/],
    ['userId', { userId: 'u'.repeat(129) }, /userId must be at most 128/],
    ['email', { email: 'not-an-email' }, /email must be a valid email address/],
    ['email', { email: 'a@b' }, /email must be a valid email address/],
    ['email', { email: `${'a'.repeat(250)}@example.com` }, /email/],
    ['firstName', { firstName: 'Juan\r\nBcc: victim@example.com' }, /firstName contains characters that are not allowed/],
    ['firstName', { firstName: 42 }, /firstName must be a string/],
    ['token', { token: 'abc12' }, /token must be at least 6/],
    ['token', { token: 'a'.repeat(257) }, /token must be at most 256/],
    ['token', { token: 'abcdefghijklmnop<script>' }, /token contains characters/],
    ['extra', { extra: true }, /extra is not an allowed field/],
  ])('reject a bad %s in email/verify with a message naming it', (field, change, message) => {
    const issues = validatePayload('email', 'verify', { ...goodVerify, ...change });
    expect(issues.map((issue) => issue.field)).toEqual([field]);
    expect(issues[0]!.message).toMatch(message);
  });

  it('lists every bad field, including missing ones', () => {
    const issues = validatePayload('email', 'verify', { email: 'nope' });
    expect(issues.map((issue) => issue.field).sort()).toEqual(['email', 'firstName', 'token', 'userId']);
    expect(issues.find((issue) => issue.field === 'token')!.message).toBe('token is required');
  });

  it('rejects a payload that is not an object', () => {
    expect(validatePayload('email', 'welcome', 'hello')[0]!.message).toMatch(/payload must be an object/);
  });

  it('bounds slack alerts and lists the allowed severities', () => {
    expect(validatePayload('slack', 'alert', { text: '' })[0]!.field).toBe('text');
    expect(validatePayload('slack', 'alert', { text: 'x'.repeat(3001) })[0]!.field).toBe('text');
    expect(validatePayload('slack', 'alert', { text: 'x', severity: 'meh' })[0]!.message).toMatch(
      /severity must be one of info, warning, error, critical/,
    );
  });

  it('refuses absolute and backslash file keys', () => {
    expect(validatePayload('files', 'validate-cv', { userId: 'u', fileKey: '/etc/passwd' })[0]!.field).toBe('fileKey');
    expect(validatePayload('files', 'validate-cv', { userId: 'u', fileKey: 'a\\b.pdf' })[0]!.field).toBe('fileKey');
  });

  it('parsePayload returns the payload or throws a typed error with every issue', () => {
    expect(parsePayload('email', 'verify', goodVerify)).toBe(goodVerify);
    try {
      parsePayload('email', 'verify', { ...goodVerify, email: 'x' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(PayloadValidationError);
      expect((error as PayloadValidationError).issues).toHaveLength(1);
    }
  });

  it('names the known job types when asked for an unknown one', () => {
    expect(() => validatePayload('email', 'newsletter', {})).toThrow(UnknownJobTypeError);
    expect(() => validatePayload('sms', 'send', {})).toThrow(/email\/verify/);
  });
});

describe('text PostgreSQL cannot store', () => {
  // jsonb refuses a lone UTF-16 surrogate and any NUL: a payload holding one could never be
  // archived as a dead letter, so it is refused where it is invalid anyway.
  it.each([
    ['a lone high surrogate', 'email', 'welcome', { userId: 'u1', email: 'a@example.com', firstName: 'Ana\ud800' }, 'firstName'],
    ['a lone low surrogate', 'email', 'welcome', { userId: 'u1', email: 'a@example.com', firstName: '\udc00Ana' }, 'firstName'],
    ['a NUL', 'slack', 'alert', { text: 'disk\u0000full' }, 'text'],
  ] as const)('refuses %s, naming the field', (_what, queue, job, payload, field) => {
    const issues = validatePayload(queue, job, payload);
    expect(issues).toEqual([{ field, message: `${field} contains a NUL character or a lone UTF-16 surrogate, which cannot be stored` }]);
    expect(() => parsePayload(queue, job, payload)).toThrow(PayloadValidationError);
  });

  it('accepts a well-formed surrogate pair (an emoji)', () => {
    expect(validatePayload('email', 'welcome', { userId: 'u1', email: 'a@example.com', firstName: 'Ana 😀' })).toEqual([]);
  });
});
