import { createDb, type Db } from '@ceres/db';
import { QueueClient } from '@ceres/queues';
import type { Logger } from 'pino';
import type { WorkerConfig } from '../config';
import type { FileLimits } from '../files/limits';
import { systemClock, type Clock } from './clock';
import { createFileSandbox, type FileSandbox } from './file-sandbox';
import { createFileStore, type FileStore } from './file-store';
import { createMailer, type Mailer } from './mailer';
import { createSlack, type Slack } from './slack';

/** The side effects processors use, built once at startup and shared by every job. */
export interface WorkerDeps {
  mailer: Mailer;
  slack: Slack;
  db: Db;
  clock: Clock;
  /** Producer side of the queues: dead-letter alerts and jobs that enqueue others. */
  queues: QueueClient;
  /** The uploads folder; keys that escape it are refused. */
  fileStore: FileStore;
  /** Child processes that parse untrusted files, with a wall-clock limit and memory caps. */
  fileSandbox: FileSandbox;
  limits: FileLimits;
  /** The newsletters' unsubscribe links: where they point and the key that signs them. */
  unsubscribe: WorkerConfig['unsubscribe'];
  /** Public URL of the platform, without a trailing slash. */
  appUrl: string;
  /** How long `failed_jobs` rows are kept. */
  failedJobsRetentionDays: number;
  config: WorkerConfig;
}

export function buildDeps(config: WorkerConfig, logger: Logger, overrides: Partial<WorkerDeps> = {}): WorkerDeps {
  return {
    mailer:
      overrides.mailer ??
      createMailer({
        smtpUrl: config.smtpUrl,
        outboxDir: config.outboxDir,
        from: config.mailFrom,
        throttlePauseMs: config.smtpThrottlePauseMs,
      }),
    slack: overrides.slack ?? createSlack({ webhookUrl: config.slackWebhookUrl, timeoutMs: config.slackTimeoutMs, logger }),
    // Every newsletter send reads and writes PostgreSQL: as many connections as it runs at once.
    db: overrides.db ?? createDb(config.databaseUrl, { applicationName: 'ceres-worker', maxConnections: 10 }),
    clock: overrides.clock ?? systemClock,
    queues:
      overrides.queues ?? new QueueClient({ config: config.queues, connectionName: 'ceres-worker-producer', allowReservedKeys: true }),
    fileStore: overrides.fileStore ?? createFileStore(config.uploadsDir),
    fileSandbox: overrides.fileSandbox ?? createFileSandbox({ timeoutMs: config.fileSandboxTimeoutMs }),
    limits: overrides.limits ?? config.fileLimits,
    unsubscribe: overrides.unsubscribe ?? config.unsubscribe,
    appUrl: overrides.appUrl ?? config.appUrl,
    failedJobsRetentionDays: overrides.failedJobsRetentionDays ?? config.failedJobsRetentionDays,
    config,
  };
}

/** Closes what {@link buildDeps} opened. */
export async function closeDeps(deps: WorkerDeps): Promise<void> {
  deps.mailer.close();
  await Promise.allSettled([deps.db.close(), deps.queues.close()]);
}
