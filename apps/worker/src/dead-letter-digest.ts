import type { DigestFigures } from '@ceres/queues';
import { redactEmails } from './redact';
import { escapeSlack } from './slack-escape';

/**
 * The dead-letter digest's words: its bucket (queue and minute), the reason as counted, its Slack
 * text. The counts per queue and minute live in Redis, shared by every worker process
 * (`CeresStore.countDeadLetter` in @ceres/queues): beyond `DEAD_LETTER_DIGEST_AFTER` dead letters
 * in a minute one digest replaces the single alerts.
 */

/** A reason is stored this long at most (already without e-mail addresses). */
const REASON_LENGTH = 200;

export const digestBucket = (queue: string, minute: number) => `${queue}.${minute}`;

export function parseDigestBucket(bucket: string): { queue: string; minute: number } {
  const dot = bucket.lastIndexOf('.');
  return { queue: bucket.slice(0, dot), minute: Number(bucket.slice(dot + 1)) };
}

/** The reason as the digest shows it: without e-mail addresses, bounded. */
export function digestReason(failedReason: string | undefined): string {
  return redactEmails(failedReason || 'unknown reason')
    .replace(/\s+/g, ' ')
    .slice(0, REASON_LENGTH);
}

const figure = (n: number) => n.toLocaleString('en-US');
const utc = (minute: number) => new Date(minute * 60_000).toISOString().slice(11, 16);

/** The digest's Slack text; ids and reasons are Slack-escaped, reasons hold no e-mail addresses. */
export function digestText(queue: string, minute: number, figures: DigestFigures, singles: number): string {
  const reasons = figures.topReasons.map(({ reason, count }) => `${figure(count)}× ${escapeSlack(reason)}`).join('; ');
  return [
    `${figure(figures.count)} jobs of *${escapeSlack(queue)}* failed for good in the last minute (${utc(minute)}–${utc(minute + 1)} UTC); top reasons: ${reasons}`,
    `First job id \`${escapeSlack(figures.firstJobId)}\`, last \`${escapeSlack(figures.lastJobId)}\`. The first ${figure(Math.min(singles, figures.count))} were alerted one by one; every one is in failed_jobs (\`ceres-jobs failed list\`).`,
  ].join('\n');
}
