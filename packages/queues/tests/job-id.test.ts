import { describe, expect, it } from 'vitest';
import { buildJobId, InvalidJobKeyError, jobIdOf, MAX_JOB_KEY_LENGTH } from '../src';

describe('buildJobId', () => {
  it('joins queue, job and key with ":" into exactly three parts', () => {
    expect(buildJobId('email', 'verify', 'user-123')).toBe('email:verify:user-123');
    expect(buildJobId('files', 'validate-cv', 'cv/user-1/cv.pdf').split(':')).toHaveLength(3);
  });

  it.each([
    ['empty', ''],
    ['blank', '   '],
    ['containing ":"', 'user:123'],
    ['with a line break', 'user\n123'],
    ['too long', 'x'.repeat(MAX_JOB_KEY_LENGTH + 1)],
    ['not a string', 42],
  ])('rejects a key that is %s with a typed error naming the field', (_, key) => {
    const attempt = () => buildJobId('email', 'verify', key, 'userId');
    expect(attempt).toThrow(InvalidJobKeyError);
    expect(attempt).toThrow(/^userId: /);
  });

  it('never produces an integer-like id, which BullMQ refuses', () => {
    const id = buildJobId('email', 'verify', '123');
    expect(`${Number.parseInt(id, 10)}`).not.toBe(id);
  });
});

describe('jobIdOf', () => {
  const send = { keyFields: ['campaignId', 'userId'] as const };
  const campaignId = '0b6f1c9e-3d4a-4f7b-9a52-6c1e2d3f4a5b';

  it('joins several key fields with "." (newsletter:send:<campaignId>.<userId>)', () => {
    expect(jobIdOf('newsletter', 'send', send, { campaignId, userId: 'user.123' })).toBe(`newsletter:send:${campaignId}.user.123`);
  });

  it('names the field of a bad part, and refuses "." in any part but the last', () => {
    const attempt = (payload: Record<string, unknown>) => {
      try {
        jobIdOf('newsletter', 'send', send, payload);
      } catch (error) {
        return error as InvalidJobKeyError;
      }
      throw new Error('no error');
    };
    expect(attempt({ campaignId: 'a.b', userId: 'c' })).toMatchObject({
      field: 'campaignId',
      message: expect.stringMatching(/^campaignId: must not contain "\."/),
    });
    expect(attempt({ campaignId, userId: 'x:y' })).toMatchObject({ field: 'userId' });
    expect(attempt({ campaignId, userId: '' })).toMatchObject({ field: 'userId' });
    expect(attempt({ userId: 'u' })).toMatchObject({ field: 'campaignId' });
  });

  it('keeps the one-field key as it was, and none without a key', () => {
    expect(jobIdOf('email', 'verify', { keyField: 'userId' }, { userId: 'u-1' })).toBe('email:verify:u-1');
    expect(jobIdOf('slack', 'alert', { keyField: 'dedupeKey' }, { text: 'x' })).toBeUndefined();
    expect(jobIdOf('maintenance', 'daily-report', {}, {})).toBeUndefined();
  });
});
