import type { Db, FailureReason } from '@ceres/db';
import { formatWait, histogramQuantile, QUEUE_NAMES, type QueueClient, type QueueName } from '@ceres/queues';
import type { Queue } from 'bullmq';
import type { WorkerConfig } from '../../config';
import type { Clock } from '../../deps/clock';
import type { Mailer } from '../../deps/mailer';
import { escapeHtml } from '../../mail/layout';
import { redactEmails } from '../../redact';
import { escapeSlack, unescapeSlack } from '../../slack-escape';
import type { Processor } from '../types';

const HOUR_MS = 60 * 60 * 1000;
const DAY_MS = 24 * HOUR_MS;
const MINUTES_PER_DAY = 24 * 60;

export interface QueueFigures {
  queue: QueueName;
  /** Jobs completed in the window (BullMQ's per-minute metrics). */
  completed: number;
  /** Final failures in the window (the dead-letter archive). */
  failed: number;
  /** Jobs not started yet right now: waiting, prioritized and delayed (retries included). */
  backlog: number;
  /**
   * The 95th percentile wait (due → started) in seconds of the jobs started in the 24 whole hours
   * before the report's hour (the workers' hourly wait histograms); null when none started.
   */
  waitP95Seconds: number | null;
}

export interface DailyReport {
  since: Date;
  until: Date;
  timeZone: string;
  queues: QueueFigures[];
  topReasons: FailureReason[];
  tokensCleaned: number;
}

/** At most this many tenants get a report of their own per day (those with a Slack webhook, by id). */
export const MAX_TENANT_REPORTS = 200;

/** One tenant's own figures: its jobs only. */
export interface TenantReport {
  tenant: string;
  name: string;
  since: Date;
  until: Date;
  timeZone: string;
  /** Final failures of the tenant's jobs per queue (the dead-letter archive, by the payload's `$tenant`). */
  failed: Array<{ queue: QueueName; failed: number }>;
  /** Mails of the email queue the relay accepted (`sent_mails`, by the tenant's job ids). */
  mailsSent: number;
  /** Newsletter mails of the tenant's campaigns sent, and failed for good. */
  newsletter: { sent: number; failed: number };
  topReasons: FailureReason[];
}

export interface DailyReportDeps {
  db: Pick<Db, 'failedJobs' | 'tenants' | 'sentMails' | 'newsletter'>;
  queues: Pick<QueueClient, 'getQueue' | 'enqueue' | 'store'>;
  mailer: Mailer;
  clock: Clock;
  config: Pick<WorkerConfig, 'timeZone' | 'reportEmailTo'>;
}

/**
 * Jobs completed in the last 24 h from BullMQ's metrics (completed jobs themselves are trimmed
 * after an hour). The data list holds one count per finished minute, newest first; the minute in
 * progress is the difference between the running count and the count at its start.
 */
export async function completedInLastDay(queue: Queue, now: Date): Promise<number> {
  const { meta, data } = await queue.getMetrics('completed', 0, MINUTES_PER_DAY);
  if (!meta.prevTS) return meta.count;
  const minutesSince = Math.floor(now.getTime() / 60_000) - Math.floor(meta.prevTS / 60_000);
  const pending = minutesSince < MINUTES_PER_DAY ? meta.count - meta.prevCount : 0;
  const keep = Math.max(0, MINUTES_PER_DAY - 1 - minutesSince);
  return pending + data.slice(0, keep).reduce((sum, n) => sum + n, 0);
}

export async function buildDailyReport(deps: DailyReportDeps): Promise<DailyReport> {
  const until = deps.clock.now();
  const since = new Date(until.getTime() - DAY_MS);
  const failed = await deps.db.failedJobs.countSince(since);
  const hour = Math.floor(until.getTime() / HOUR_MS);
  const queues = await Promise.all(
    QUEUE_NAMES.map(async (name): Promise<QueueFigures> => {
      const queue = deps.queues.getQueue(name);
      const counts = await queue.getJobCounts('waiting', 'prioritized', 'delayed');
      return {
        queue: name,
        completed: await completedInLastDay(queue, until),
        failed: failed[name] ?? 0,
        backlog: Object.values(counts).reduce((sum, n) => sum + n, 0),
        waitP95Seconds: histogramQuantile(0.95, await deps.queues.store.waitWindow(queue, 'hour', hour - 24, hour - 1)),
      };
    }),
  );
  const cleaned = await deps.queues.getQueue('maintenance').getCompleted(0, 999);
  const tokensCleaned = cleaned
    .filter((job) => job?.name === 'clean-verification-tokens' && (job.finishedOn ?? 0) >= since.getTime())
    .reduce((sum, job) => sum + (Number((job.returnvalue as { deleted?: number } | null)?.deleted) || 0), 0);
  return {
    since,
    until,
    timeZone: deps.config.timeZone,
    queues,
    topReasons: await deps.db.failedJobs.topReasonsSince(since, 5),
    tokensCleaned,
  };
}

/**
 * The figures of each tenant that has a Slack webhook of its own (and is not disabled: its alert
 * would wait), at most {@link MAX_TENANT_REPORTS}: four queries whatever their number.
 * BullMQ's metrics (completed, backlog) are per queue, not per tenant: a tenant's report counts
 * its final failures and its mails.
 */
export async function buildTenantReports(deps: DailyReportDeps, since: Date, until: Date): Promise<TenantReport[]> {
  const tenants = (await deps.db.tenants.list())
    .filter((row) => row.slackWebhookUrlSealed !== null && row.disabledAt === null)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, MAX_TENANT_REPORTS);
  if (tenants.length === 0) return [];
  const ids = tenants.map((row) => row.id);
  const [failed, reasons, mails, newsletter] = await Promise.all([
    deps.db.failedJobs.countSinceByTenant(since, { tenants: ids }),
    deps.db.failedJobs.topReasonsByTenantSince(since, ids, 5),
    deps.db.sentMails.countSinceByTenant(since, ids),
    deps.db.newsletter.outcomesSinceByTenant(since, ids),
  ]);
  return tenants.map((row) => ({
    tenant: row.id,
    name: row.name,
    since,
    until,
    timeZone: deps.config.timeZone,
    failed: QUEUE_NAMES.map((queue) => ({ queue, failed: failed[row.id]?.[queue] ?? 0 })),
    mailsSent: mails[row.id] ?? 0,
    newsletter: newsletter[row.id] ?? { sent: 0, failed: 0 },
    topReasons: reasons[row.id] ?? [],
  }));
}

const localTime = (date: Date, timeZone: string) =>
  new Intl.DateTimeFormat('en-CA', { timeZone, dateStyle: 'short', timeStyle: 'short', hourCycle: 'h23' }).format(date);

/** Reasons are error texts: one line, no addresses, short. */
const shortReason = (reason: string) => redactEmails(reason.replace(/\s+/g, ' ')).slice(0, 120);

/** A fixed-width table in a code block: readable at a glance in Slack and in a mail. */
export function formatReportText(report: DailyReport): string {
  const header = ['queue', 'completed', 'failed', 'backlog', 'wait p95'];
  const rows = report.queues.map((q) => [q.queue, String(q.completed), String(q.failed), String(q.backlog), formatWait(q.waitP95Seconds)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const lines = [
    `*Ceres daily report* — last 24 h to ${localTime(report.until, report.timeZone)} (${report.timeZone})`,
    '```',
    line(header),
    ...rows.map(line),
    '```',
    `Verification tokens cleaned: *${report.tokensCleaned}*`,
  ];
  if (report.topReasons.length === 0) lines.push('No job failed for good. :white_check_mark:');
  else {
    lines.push('Most frequent failure reasons:');
    // Failure reasons come from job data: escaped so they cannot mention anyone.
    for (const r of report.topReasons) lines.push(`• ${r.count}× ${escapeSlack(r.queue)}: ${escapeSlack(shortReason(r.reason))}`);
  }
  return lines.join('\n').slice(0, 3000);
}

/** A tenant's report, for its own Slack channel: its name, its figures only. */
export function formatTenantReportText(report: TenantReport): string {
  const header = ['queue', 'failed'];
  const rows = report.failed.map((q) => [q.queue, String(q.failed)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  const lines = [
    `*Ceres daily report for ${escapeSlack(report.name)}* — last 24 h to ${localTime(report.until, report.timeZone)} (${report.timeZone})`,
    `Mails sent: *${report.mailsSent}*; newsletter mails sent: *${report.newsletter.sent}*, failed: *${report.newsletter.failed}*`,
    'Jobs failed for good:',
    '```',
    line(header),
    ...rows.map(line),
    '```',
  ];
  if (report.topReasons.length === 0) lines.push('No job failed for good. :white_check_mark:');
  else {
    lines.push('Most frequent failure reasons:');
    for (const r of report.topReasons) lines.push(`• ${r.count}× ${escapeSlack(r.queue)}: ${escapeSlack(shortReason(r.reason))}`);
  }
  return lines.join('\n').slice(0, 3000);
}

function formatReportHtml(report: DailyReport): string {
  const cell = (value: string | number, align = 'right') =>
    `<td style="padding: 2px 10px; text-align: ${align};">${escapeHtml(String(value))}</td>`;
  const rows = report.queues
    .map(
      (q) =>
        `<tr>${cell(q.queue, 'left')}${cell(q.completed)}${cell(q.failed)}${cell(q.backlog)}${cell(formatWait(q.waitP95Seconds))}</tr>`,
    )
    .join('\n');
  const reasons = report.topReasons
    .map((r) => `<li>${r.count}× ${escapeHtml(r.queue)}: ${escapeHtml(shortReason(r.reason))}</li>`)
    .join('');
  return `<!doctype html><html><body style="font-family: system-ui, sans-serif;">
<h2>Ceres daily report</h2>
<p>Last 24 h to ${escapeHtml(localTime(report.until, report.timeZone))} (${escapeHtml(report.timeZone)})</p>
<table style="border-collapse: collapse;"><tr><th align="left">queue</th><th>completed</th><th>failed</th><th>backlog</th><th>wait p95</th></tr>
${rows}</table>
<p>Verification tokens cleaned: <b>${report.tokensCleaned}</b></p>
${reasons ? `<p>Most frequent failure reasons:</p><ul>${reasons}</ul>` : '<p>No job failed for good.</p>'}
</body></html>`;
}

/**
 * Builds the report and posts it through the slack queue (deduplicated per day, so a repeated
 * tick posts once) and, when REPORT_EMAIL_TO is set, mails it. Then each tenant with a Slack
 * webhook of its own gets its own figures there: one `slack/alert` for the tenant (the worker posts
 * a tenant's alert to its webhook), deduplicated per tenant and day.
 */
export const dailyReport: Processor<
  'maintenance/daily-report',
  { report: DailyReport; mailed: boolean; tenantReports: number },
  DailyReportDeps
> = async (_job, deps) => {
  const report = await buildDailyReport(deps);
  const text = formatReportText(report);
  const day = new Intl.DateTimeFormat('en-CA', { timeZone: report.timeZone }).format(report.until);
  await deps.queues.enqueue('slack/alert', { text, severity: 'info', dedupeKey: `daily-report-${day}` });
  const tenantReports = await buildTenantReports(deps, report.since, report.until);
  for (const tenantReport of tenantReports) {
    await deps.queues.enqueue(
      'slack/alert',
      { text: formatTenantReportText(tenantReport), severity: 'info', dedupeKey: `daily-report-tenant-${day}` },
      { tenant: tenantReport.tenant },
    );
  }
  let mailed = false;
  if (deps.config.reportEmailTo) {
    await deps.mailer.send({
      to: deps.config.reportEmailTo,
      subject: `Ceres daily report ${day}`,
      text: unescapeSlack(text.replace(/```\n?/g, '').replace(/\*/g, '')),
      html: formatReportHtml(report),
    });
    mailed = true;
  }
  return { report, mailed, tenantReports: tenantReports.length };
};

export default dailyReport;
