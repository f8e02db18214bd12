import { Type } from '@sinclair/typebox';
import { DEFAULT_TENANT } from '@ceres/app-kit';
import type { Queue } from 'bullmq';
import type { QueueClient } from '../client';
import { JOB_TYPES, QUEUE_NAMES, TOKEN_STORES, type QueueName } from '../registry';
import { scopedJobId, tenantOfData } from '../tenant';
import { optOutAddressDigests } from './opt-out-digest';

/** Keys per SCAN step, and jobs read at once. */
const PAGE = 1000;

/**
 * The user id an erasure takes (the admin route's body, the CLI's argument): one line, as the
 * platform writes it. Looser than a job key on purpose: tokens and archive rows are matched too.
 */
export const ErasureUserId = Type.String({
  minLength: 1,
  maxLength: 128,
  pattern: '^[^\\u0000-\\u001f\\u007f]*$',
  description: 'The platform user id',
  examples: ['user-123'],
});

/** What erasure needs of PostgreSQL: `@ceres/db`'s `createDb(…)` has it (this package does not depend on it). */
export interface ErasureStores {
  failedJobs: { deleteForUser(userId: string, tenant?: string): Promise<number> };
  tokens: { deleteForUser(userId: string, tenant?: string): Promise<number> };
  /** The hashed token tables of {@link TOKEN_STORES}. */
  hashedTokens(table: string): { deleteForUser(userId: string, tenant?: string): Promise<number> };
  newsletter: {
    eraseUser(
      userId: string,
      options?: { addressDigest?: (email: string) => string; tenant?: string },
    ): Promise<{ recipients: number; optOuts: number; sendingCampaigns: string[] }>;
  };
  sentMails: { deleteMatching(jobIdPatterns: readonly string[]): Promise<number> };
  /** The job ledger's rows keyed by the user id (`ledgerKey: 'userId'`). */
  jobLedger: { deleteForUser(userId: string, tenant?: string): Promise<number> };
}

/** Where the erasure is recorded: a pino logger (`request.log`, the CLI's). */
export interface ErasureLog {
  info(fields: object, message: string): void;
}

/** What one erasure removed. */
export interface UserDataErasure {
  /** Jobs removed, all queues. */
  jobs: number;
  /** The same per queue. */
  jobsByQueue: Record<QueueName, number>;
  /** Jobs of the user running right now: BullMQ cannot remove a locked job; erase again once they finished. */
  jobsStillRunning: number;
  /** `failed_jobs` rows whose payload's `userId` is the user's. */
  failedJobs: number;
  /** Tokens of the user: verification tokens and those of every job type's `tokenStore`. */
  tokens: number;
  /** Newsletter recipient rows whose address and first name were blanked (one per campaign). */
  newsletterRecipients: number;
  /** Newsletter opt-outs kept by user id with the address replaced by its keyed digest (or dropped, without a keyring). */
  newsletterOptOuts: number;
  /** `sent_mails` records of the user's mails (their job ids contain the user id). */
  sentMails: number;
  /** `job_ledger` rows of the user's jobs (those whose ledger key is their user id). */
  ledgerRows: number;
}

/**
 * Erases one user's data. A user id is unique within a tenant only: the user is `tenant`'s
 * (`default` when absent), and the same id of another tenant is left alone. Their `failed_jobs` rows, their tokens (verification tokens and every
 * job type's `tokenStore`), the address and
 * name of their newsletter rows, the `sent_mails` records of their mails, their `job_ledger` rows, and every job whose payload's `userId` is theirs, in every queue
 * and state. The one operation behind
 * `POST /api/erasure` (queues-ui) and `ceres-jobs erase` (the CLI). Logged as `user data erased`
 * with the counts only: never the user id, which would tie the request to the person.
 */
export async function eraseUserData(
  deps: { client: QueueClient; db: ErasureStores; log: ErasureLog },
  userId: string,
  { tenant = DEFAULT_TENANT }: { tenant?: string } = {},
): Promise<UserDataErasure> {
  const { client, db, log } = deps;
  // The archive and the tokens first: a job cannot come back from them, and a second call erases
  // what a concurrent enqueue added meanwhile.
  const failedJobs = await db.failedJobs.deleteForUser(userId, tenant);
  let tokens = await db.tokens.deleteForUser(userId, tenant);
  for (const table of TOKEN_STORES) tokens += await db.hashedTokens(table).deleteForUser(userId, tenant);
  // A keyed digest of each opted-out address keeps it blocked; without a keyring the address goes, the user id stays.
  const keyring = client.config.keyring;
  const newsletter = await db.newsletter.eraseUser(
    userId,
    keyring ? { addressDigest: (email) => optOutAddressDigests(keyring, email)[0]!, tenant } : { tenant },
  );
  const sentMails = await db.sentMails.deleteMatching(userJobIdPatterns(userId, tenant));
  const ledgerRows = await db.jobLedger.deleteForUser(userId, tenant);
  const jobs = await eraseUserJobs(client, userId, tenant);
  // Again once the jobs are gone: rows of jobs that finished meanwhile reach PostgreSQL within
  // about two seconds (the ledger's flush and drain); rows still waiting in Redis for a PostgreSQL
  // that is down land later, and a second erasure removes them.
  const ledgerRowsAfter = await db.jobLedger.deleteForUser(userId, tenant);
  // Again once the jobs are gone: a dead letter archived meanwhile (a worker's retry of a recording
  // that failed) is deleted now, or its worker sees the job gone and deletes it (apps/worker dead-letters).
  const failedJobsAfter = await db.failedJobs.deleteForUser(userId, tenant);
  // A campaign whose last pending recipient was this user has no send left to close it.
  for (const campaignId of newsletter.sendingCampaigns) await client.enqueue('newsletter/finish', { campaignId }, { tenant });
  const counts: UserDataErasure = {
    jobs: jobs.removed,
    jobsByQueue: jobs.byQueue,
    jobsStillRunning: jobs.running,
    failedJobs: failedJobs + failedJobsAfter,
    tokens,
    newsletterRecipients: newsletter.recipients,
    newsletterOptOuts: newsletter.optOuts,
    sentMails,
    ledgerRows: ledgerRows + ledgerRowsAfter,
  };
  log.info(counts, 'user data erased');
  return counts;
}

/** `text` as a literal in a PostgreSQL regular expression: its metacharacters backslashed. */
const literal = (text: string) => text.replace(/[.^$*+?()[\]{}|\\]/g, '\\$&');

/**
 * PostgreSQL regular expressions matching exactly the job ids built from `userId` of `tenant`
 * (`default` when absent; another tenant's ids are prefixed `<tenant>@`, see `scopedJobId`): those
 * of the job types whose key is the `userId` field, or one of their `keyFields` (the parts before
 * the last never contain `.`, the separator). Job ids of other users, or of the same user id of
 * another tenant, never match, whatever their ids contain.
 */
export function userJobIdPatterns(userId: string, tenant: string = DEFAULT_TENANT): string[] {
  const patterns: string[] = [];
  for (const { queue, job, definition } of JOB_TYPES) {
    const fields: readonly string[] = definition.keyFields ?? (definition.keyField ? [definition.keyField] : []);
    const position = fields.indexOf('userId');
    if (position < 0) continue;
    const before = '[^.]*\\.'.repeat(position);
    const after = position === fields.length - 1 ? '' : `${'\\.[^.]*'.repeat(fields.length - 2 - position)}\\..*`;
    patterns.push(`^${literal(scopedJobId(tenant, `${queue}:${job}:`))}${before}${literal(userId)}${after}$`);
  }
  return patterns;
}

interface UserJobsErasure {
  removed: number;
  byQueue: Record<QueueName, number>;
  running: number;
}

/**
 * The ids of the jobs of `queue` whose payload's `userId` is `userId` and whose tenant is `tenant`, in any state: every job id
 * of the queue (`CeresStore.scanJobIds`, which misses none while a worker moves jobs between
 * states), then each job's payload.
 */
async function userJobIds(client: QueueClient, queue: Queue, userId: string, tenant: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const candidates of client.store.scanJobIds(queue, PAGE)) {
    const jobs = await Promise.all(candidates.map((id) => queue.getJob(id).catch(() => undefined)));
    for (const job of jobs) {
      if (job?.id && (job.data as { userId?: unknown } | undefined)?.userId === userId && tenantOfData(job.data) === tenant)
        ids.add(job.id);
    }
  }
  return ids;
}

/**
 * Removes every job whose payload's `userId` is `userId`, in every queue and state. Jobs are
 * matched on the payload's `userId` (never encrypted), so it needs no decryption key.
 */
async function eraseUserJobs(client: QueueClient, userId: string, tenant: string): Promise<UserJobsErasure> {
  const byQueue = Object.fromEntries(QUEUE_NAMES.map((name) => [name, 0])) as Record<QueueName, number>;
  let running = 0;
  for (const name of QUEUE_NAMES) {
    const queue = client.getQueue(name);
    for (const id of await userJobIds(client, queue, userId, tenant)) {
      // 1: removed; 0: gone meanwhile or locked by a worker running it.
      if ((await queue.remove(id)) === 1) byQueue[name] += 1;
      else if (await queue.getJob(id)) running += 1;
    }
  }
  return { removed: Object.values(byQueue).reduce((sum, count) => sum + count, 0), byQueue, running };
}
