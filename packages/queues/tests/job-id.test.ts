import { describe, expect, it } from 'vitest';
import { buildJobId, InvalidJobKeyError, MAX_JOB_KEY_LENGTH } from '../src';

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
