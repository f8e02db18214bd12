import { describe, expect, it } from 'vitest';
import { registry } from '../src';
import { reservedKeyIssue } from '../src/reserved-keys';

describe('reservedKeyIssue', () => {
  it('names the field for the worker’s own alert keys and lets every other key through', () => {
    const alert = registry.slack.jobs.alert;
    expect(reservedKeyIssue(alert, 'daily-report-2026-12-01')).toMatchObject({ field: 'dedupeKey' });
    expect(reservedKeyIssue(alert, 'dead-email-x')).toMatchObject({ field: 'dedupeKey' });
    expect(reservedKeyIssue(alert, 'disk-full')).toBeUndefined();
    expect(reservedKeyIssue(alert, 'Daily-report-2026')).toBeUndefined();
    // Other job types have no reserved keys.
    expect(reservedKeyIssue(registry.files.jobs['validate-cv'], 'dead-letter.pdf')).toBeUndefined();
  });
});
