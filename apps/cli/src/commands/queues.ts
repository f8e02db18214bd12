import { createInterface } from 'node:readline/promises';
import {
  formatWait,
  QUEUE_NAMES,
  RECENT_WAIT_MINUTES,
  tenantOfData,
  tenantOfJobId,
  type BreakerView,
  type CleanableState,
  type JobState,
  type JobView,
} from '@ceres/queues';
import { CliError, UsageError } from '../errors';
import type { CliContext } from '../context';
import { maskData, maskText } from '../mask';
import { iso, printJson, println, table, type Io } from '../output';
import { age } from '../parse';

export interface Json {
  json?: boolean;
}

/** `--tenant`: only this tenant's jobs (validated by the parser). */
export interface TenantFilter {
  tenant?: string;
}

/** `of tenant acme` after a figure, when --tenant narrowed it. */
const ofTenant = (tenant: string | undefined) => (tenant === undefined ? '' : ` of tenant ${tenant}`);

/** The tenant of a job: told by its id when deterministic, else by its data. */
const tenantOfJob = (job: JobView) => (job.id ? tenantOfJobId(job.id) : undefined) ?? tenantOfData(job.data);

/** A job as the CLI shows it: personal data masked, times as ISO 8601. */
export function jobOutput(job: JobView) {
  return {
    id: job.id ?? null,
    name: job.name,
    tenant: tenantOfData(job.data),
    state: job.state,
    data: maskData(job.data),
    attemptsMade: job.attemptsMade,
    failedReason: job.failedReason === null ? null : maskText(job.failedReason),
    stacktrace: job.stacktrace.map(maskText),
    addedAt: iso(job.timestamp),
    processedAt: iso(job.processedOn),
    finishedAt: iso(job.finishedOn),
    delay: job.delay,
    priority: job.priority,
  };
}

export async function stats(ctx: CliContext, io: Io, given: Json & TenantFilter): Promise<number> {
  const options = { ...given, tenant: await ctx.scopedTenant(given.tenant) };
  const admin = await ctx.admin();
  const all = await admin.allStats(options.tenant);
  const paused = await Promise.all(QUEUE_NAMES.map((name) => admin.isPaused(name)));
  // The oldest due job of the whole queue (as `paused`), the figure of the long-wait alerts.
  const waiting = await Promise.all(QUEUE_NAMES.map((name) => admin.wait(name)));
  // The waits are counted per queue, all tenants together: shown for the whole platform only.
  const waits = options.tenant === undefined ? await Promise.all(QUEUE_NAMES.map((name) => admin.recentWait(name))) : undefined;
  const queues = Object.fromEntries(
    QUEUE_NAMES.map((name, index) => [
      name,
      {
        ...all[name],
        paused: paused[index]!,
        oldestWaitingSeconds: Math.floor(waiting[index]!.oldestWaitingMs / 1000),
        ...(waits ? { waitP95Seconds: waits[index]!.p95Seconds } : {}),
      },
    ]),
  );
  const breakers = breakerOutput(await admin.breakers(), options.tenant);
  if (options.json) {
    printJson(
      io,
      options.tenant === undefined
        ? { waitWindowMinutes: RECENT_WAIT_MINUTES, queues, breakers }
        : { tenant: options.tenant, queues, breakers },
    );
    return 0;
  }
  if (options.tenant !== undefined) println(io, `jobs of tenant ${options.tenant} (paused, oldest waiting: the whole queue)`);
  const header = ['queue', 'waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed', 'paused', 'oldest waiting'];
  println(
    io,
    table(
      waits ? [...header, `wait p95 (${RECENT_WAIT_MINUTES} min)`] : header,
      Object.values(queues).map((q) => {
        const wait = waiting[QUEUE_NAMES.indexOf(q.name)]!;
        const row = [q.name, q.waiting, q.active, q.delayed, q.prioritized, q.failed, q.completed, q.paused ? 'yes' : 'no'];
        row.push(wait.due === 0 ? '-' : age(wait.oldestWaitingMs));
        return waits ? [...row, formatWait(q.waitP95Seconds ?? null)] : row;
      }),
      [1, 2, 3, 4, 5, 6, 8],
    ),
  );
  println(io);
  if (breakers.every((breaker) => breaker.state === 'closed' && breaker.failures === 0)) {
    println(io, 'circuit breakers: all closed');
    return 0;
  }
  println(io, 'circuit breakers (the SMTP relays and Slack webhooks the worker calls)');
  println(
    io,
    table(
      ['dependency', 'state', 'failures', 'opened at', 'next probe'],
      breakers.map((b) => [b.dependency, b.state, b.failures, b.openedAt ?? '-', b.state === 'closed' ? '-' : (b.nextProbeAt ?? '-')]),
      [2],
    ),
  );
  return 0;
}

/**
 * The breakers `stats` shows: every one that counted a failure (with `tenant`: the platform's and
 * that tenant's own). `failures`: consecutive transport failures counted while closed; `openedAt`:
 * the start of the current or last open episode; `nextProbeAt`: when a job may probe (open) or
 * until when the probe's claim holds (half-open).
 */
function breakerOutput(all: BreakerView[], tenant: string | undefined) {
  const shown = all.filter((b) => tenant === undefined || !b.dependency.includes(':') || b.dependency.endsWith(`:${tenant}`));
  return shown.map((b) => ({
    dependency: b.dependency,
    state: b.state,
    failures: b.failures,
    openedAt: b.since > 0 ? iso(b.since) : null,
    nextProbeAt: b.state === 'open' ? iso(b.openUntil) : b.state === 'half-open' ? iso(b.probeUntil) : null,
  }));
}

export async function jobs(
  ctx: CliContext,
  io: Io,
  queue: string,
  given: Json & TenantFilter & { state: JobState; limit: number },
): Promise<number> {
  const options = { ...given, tenant: await ctx.scopedTenant(given.tenant) };
  const admin = await ctx.admin();
  const { total, jobs: list } = await admin.jobs(queue, options.state, 0, options.limit - 1, options.tenant);
  const shown = list.map(jobOutput);
  if (options.json) {
    const scope = options.tenant === undefined ? {} : { tenant: options.tenant };
    printJson(io, { queue, state: options.state, ...scope, total, jobs: shown });
    return 0;
  }
  if (shown.length === 0) {
    println(io, `no ${options.state} jobs${ofTenant(options.tenant)} in ${queue}`);
    return 0;
  }
  println(
    io,
    table(
      ['id', 'tenant', 'name', 'attempts', 'added', 'finished', 'reason'],
      shown.map((job) => [
        job.id ?? '',
        job.tenant,
        job.name,
        job.attemptsMade,
        job.addedAt ?? '',
        job.finishedAt ?? '',
        (job.failedReason ?? '').slice(0, 60),
      ]),
      [3],
    ),
  );
  println(io, `${shown.length} of ${total} ${options.state} jobs${ofTenant(options.tenant)} in ${queue}, newest first`);
  return 0;
}

/** A job of `queue` the principal may see: another tenant's is "no job" to a tenant-scoped account. */
async function visibleJob(ctx: CliContext, queue: string, id: string): Promise<JobView | null> {
  const found = await (await ctx.admin()).job(queue, id);
  const { tenant } = await ctx.principal();
  return found && (tenant === null || tenantOfJob(found) === tenant) ? found : null;
}

export async function job(ctx: CliContext, io: Io, queue: string, id: string, options: Json): Promise<number> {
  const found = await visibleJob(ctx, queue, id);
  if (!found) throw new CliError(`no job "${id}" in queue ${queue}`);
  const shown = jobOutput(found);
  if (options.json) {
    printJson(io, { queue, job: shown });
    return 0;
  }
  const { data, stacktrace, ...fields } = shown;
  for (const [key, value] of Object.entries(fields)) println(io, `${key.padEnd(13)} ${value ?? '-'}`);
  println(io, `data          ${JSON.stringify(data)}`);
  if (stacktrace.length > 0) println(io, `stacktrace\n${stacktrace.join('\n---\n')}`);
  return 0;
}

export async function retry(
  ctx: CliContext,
  io: Io,
  queue: string,
  id: string | undefined,
  given: Json & TenantFilter & { all?: boolean },
): Promise<number> {
  if ((id === undefined) === !given.all) throw new UsageError('retry: give either a job <id> or --all');
  if (given.tenant !== undefined && !given.all) throw new UsageError('retry: --tenant goes with --all (a job <id> names one job already)');
  const options = given.all ? { ...given, tenant: await ctx.scopedTenant(given.tenant) } : given;
  const admin = await ctx.admin();
  if (options.all) {
    const retried = await ctx.audited(
      'job.retry',
      {
        tenant: options.tenant,
        target: { queue },
        params: { all: true, ...(options.tenant === undefined ? {} : { tenant: options.tenant }) },
      },
      () => admin.retryFailed(queue, options.tenant),
    );
    if (options.json) printJson(io, options.tenant === undefined ? { queue, retried } : { queue, tenant: options.tenant, retried });
    else println(io, `${retried} failed job(s)${ofTenant(options.tenant)} of ${queue} back to waiting with their whole retry schedule`);
    return 0;
  }
  const { tenant: scope } = await ctx.principal();
  // A tenant-scoped account's job only: another tenant's is "no job", and nothing is retried (the attempt is recorded).
  const found = await visibleJob(ctx, queue, id!);
  const outcome = await ctx.audited(
    'job.retry',
    { tenant: found ? tenantOfJob(found) : scope, target: { queue, jobId: id! } },
    async () => (found ? admin.retryJob(queue, id!) : null),
    (done) => (done === null ? 'not-found' : done ? 'ok' : 'not-failed'),
  );
  if (outcome === null) throw new CliError(`no job "${id}" in queue ${queue}`);
  if (!outcome) {
    const state = (await admin.job(queue, id!))?.state ?? 'gone';
    throw new CliError(`job "${id}" of ${queue} is ${state}, not failed: nothing retried`);
  }
  if (options.json) printJson(io, { queue, id, retried: true });
  else println(io, `job ${id} of ${queue} back to waiting with its whole retry schedule`);
  return 0;
}

export async function pauseOrResume(ctx: CliContext, io: Io, queue: string, pause: boolean, options: Json): Promise<number> {
  await ctx.refuseScoped(pause ? 'pause' : 'resume');
  const admin = await ctx.admin();
  await ctx.audited(pause ? 'queue.pause' : 'queue.resume', { target: { queue } }, () =>
    pause ? admin.pause(queue) : admin.resume(queue),
  );
  const paused = await admin.isPaused(queue);
  if (options.json) printJson(io, { queue, paused });
  else println(io, `${queue} is ${paused ? 'paused: workers finish their current jobs and take no new ones' : 'running'}`);
  return 0;
}

export async function clean(
  ctx: CliContext,
  io: Io,
  queue: string,
  state: CleanableState,
  options: Json & { grace: number; limit?: number },
): Promise<number> {
  await ctx.refuseScoped('clean');
  const admin = await ctx.admin();
  const removed = await ctx.audited(
    'queue.clean',
    { target: { queue }, params: { state, grace: options.grace, limit: options.limit ?? null } },
    () => admin.clean(queue, state, options.grace, options.limit),
  );
  if (options.json) printJson(io, { queue, state, gracePeriod: options.grace, removed });
  else println(io, `removed ${removed} ${state} job(s) of ${queue} finished more than ${options.grace} ms ago`);
  return 0;
}

export async function drain(ctx: CliContext, io: Io, queue: string, options: Json & TenantFilter & { yes?: boolean }): Promise<number> {
  const tenant = await ctx.scopedTenant(options.tenant);
  const admin = await ctx.admin();
  if (!options.yes) {
    if (!io.stdin.isTTY) throw new UsageError('drain: asks for confirmation on a terminal; pass --yes to drain without asking');
    const { waiting, prioritized } = await admin.stats(queue, tenant);
    const rl = createInterface({ input: io.stdin, output: io.stdout as NodeJS.WritableStream });
    const answer = await rl.question(`Remove the ${waiting + prioritized} waiting job(s)${ofTenant(tenant)} of ${queue}? [y/N] `);
    rl.close();
    if (!/^y(es)?$/i.test(answer.trim())) {
      println(io, 'nothing removed');
      return 1;
    }
  }
  const removed = await ctx.audited('queue.drain', { tenant, target: { queue }, params: tenant === undefined ? {} : { tenant } }, () =>
    admin.drain(queue, tenant),
  );
  if (options.json) printJson(io, tenant === undefined ? { queue, removed } : { queue, tenant, removed });
  else println(io, `removed ${removed} waiting job(s)${ofTenant(tenant)} of ${queue}`);
  return 0;
}

export async function schedulers(ctx: CliContext, io: Io, options: Json): Promise<number> {
  const admin = await ctx.admin();
  const list = await admin.schedulers();
  if (options.json) {
    printJson(io, { schedulers: list });
    return 0;
  }
  if (list.length === 0) {
    println(io, 'no job schedulers (a worker upserts them when it starts)');
    return 0;
  }
  println(
    io,
    table(
      ['id', 'queue', 'pattern', 'tz', 'next'],
      list.map((s) => [s.id, s.queue, s.pattern ?? `every ${s.every} ms`, s.tz ?? '', s.next ?? '']),
    ),
  );
  return 0;
}

export async function runScheduler(ctx: CliContext, io: Io, id: string, options: Json & { queue?: string }): Promise<number> {
  await ctx.refuseScoped('schedulers run');
  const admin = await ctx.admin();
  const { queue, jobId } = await ctx.audited('scheduler.run', { target: { scheduler: id, queue: options.queue ?? null } }, () =>
    admin.runScheduler(id, options.queue),
  );
  if (options.json) printJson(io, { scheduler: id, queue, jobId });
  else println(io, `added job ${jobId} to ${queue} from scheduler ${id}`);
  return 0;
}
