import { PayloadValidationError } from '@ceres/queues';
import { makeTempDir, waitFor } from '@ceres/testing';
import { describe, expect, it } from 'vitest';
import { createWorkerApp } from '../src/app';
import { deadLetterAlertText } from '../src/dead-letters';
import { createLogger } from '../src/deps/logger';
import { formatReportText, type DailyReport } from '../src/processors/maintenance/daily-report';
import { escapeSlack, unescapeSlack } from '../src/slack-escape';
import { configFor, waitForState, workerEnv, useTestBed } from './helpers/harness';

const bed = useTestBed();

/** Anything Slack would turn into a mention, a link or an entity. */
const HOSTILE = 'a <!channel> b <!here> c <@U123ABC> d <https://evil.example|click> e & f';

describe('escapeSlack', () => {
  it('leaves no < or > and escapes &, so mentions and links stay text', () => {
    const escaped = escapeSlack(HOSTILE);
    expect(escaped).not.toMatch(/[<>]/);
    expect(escaped).toBe('a &lt;!channel&gt; b &lt;!here&gt; c &lt;@U123ABC&gt; d &lt;https://evil.example|click&gt; e &amp; f');
    expect(unescapeSlack(escaped)).toBe(HOSTILE);
  });

  it('is applied to the job id, name and reason of a dead-letter alert', () => {
    const text = deadLetterAlertText({
      queueName: 'files',
      name: 'validate-cv',
      id: `files:validate-cv:${HOSTILE}`,
      attemptsMade: 1,
      failedReason: HOSTILE,
    });
    expect(text).not.toMatch(/<[!@h]/);
    expect(text).toContain('&lt;!channel&gt;');
  });

  it('is applied to the failure reasons of the daily report', () => {
    const report: DailyReport = {
      since: new Date(0),
      until: new Date(86_400_000),
      timeZone: 'UTC',
      queues: [{ queue: 'files', completed: 0, failed: 1, backlog: 0, waitP95Seconds: null }],
      topReasons: [{ queue: 'files', reason: HOSTILE, count: 1 }],
      tokensCleaned: 0,
    };
    const text = formatReportText(report);
    expect(text).not.toMatch(/<[!@h]/);
    expect(text).toContain('&lt;!here&gt;');
  });
});

describe('a file key with <!channel> that fails for good', () => {
  it('reaches the Slack receiver escaped in the dead-letter alert', async () => {
    const uploads = await makeTempDir('uploads');
    const env = workerEnv(bed.peers, { UPLOADS_DIR: uploads.path });
    const app = createWorkerApp({ config: configFor(env), logger: createLogger('silent') });
    bed.apps.push(app);
    await app.started;
    const queues = bed.producer(env);
    // No such file: the job fails at once (unrecoverable) and raises the alert.
    const fileKey = 'cv/<!channel> <@U123ABC> &.pdf';
    const { jobId } = await queues.enqueue('files/validate-cv', { userId: 'u-1', fileKey });
    await waitForState(queues.getQueue('files'), jobId, 'failed');
    const texts = () => bed.peers.slack.requests.map((request) => (request.body as { text: string }).text);
    await waitFor(() => texts().some((text) => text.includes('Job failed for good')), { timeoutMs: 15_000, what: 'the dead-letter alert' });
    const alert = texts().find((text) => text.includes('Job failed for good'))!;
    expect(alert).toContain('cv/&lt;!channel&gt; &lt;@U123ABC&gt; &amp;.pdf');
    expect(alert).not.toContain('<!channel>');
    expect(alert).not.toContain('<@U123ABC>');
    await uploads.remove();
  }, 40_000);
});

describe('the keys the worker reserves', () => {
  it('are refused to an app producer (the daily report and dead-letter alert keys), with the field named', async () => {
    const queues = bed.producer(workerEnv(bed.peers));
    for (const dedupeKey of ['daily-report-2026-12-01', 'dead-email-x-1-abc']) {
      const refused = await queues
        .enqueue('slack/alert', { text: 'forged', dedupeKey }, { delay: 60_000 })
        .catch((error: unknown) => error);
      expect(refused).toBeInstanceOf(PayloadValidationError);
      expect((refused as PayloadValidationError).issues).toEqual([expect.objectContaining({ field: 'dedupeKey' })]);
    }
    expect(await queues.getQueue('slack').count()).toBe(0);
    // A key that merely contains the words is free.
    await expect(queues.enqueue('slack/alert', { text: 'ok', dedupeKey: 'my-daily-report-2026-12-01' })).resolves.toBeDefined();
  });
});
