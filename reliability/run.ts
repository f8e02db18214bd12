// `npm run test:reliability [-- --quick]`: the guarantees of docs/reliability.md, checked against
// real processes (API and worker from their sources) and real peers on loopback. Each scenario
// prints its figures; a violated guarantee makes the exit code 1.
import { spawn } from 'node:child_process';
import { rssMiB } from '../bench/lib/child';
import { freePort, startRedisSentinelGroup, waitFor } from '@ceres/testing';
import { underLoad } from '../tests/lib/failover';
import { createRedisConnection, findJobDefinition, QUEUE_NAMES, schemaIssues, type QueueClient } from '@ceres/queues';
import fc from 'fast-check';
import pg from 'pg';
import {
  producerFor,
  spawnWorker,
  startPeers,
  stopWorker,
  workerEnv,
  ROOT,
  type WorkerProcess,
} from '../apps/worker/tests/helpers/harness';

const QUICK = process.argv.includes('--quick');
const N = QUICK
  ? { crashJobs: 1_000, kills: 2, badRequests: 1_000, deadJobs: 10 }
  : { crashJobs: 10_000, kills: 5, badRequests: 10_000, deadJobs: 30 };
const violations: string[] = [];
const figures: Record<string, Record<string, unknown>> = {};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const say = (message: string) => console.log(`[reliability ${new Date().toISOString().slice(11, 19)}] ${message}`);
function check(scenario: string, ok: boolean, guarantee: string): void {
  if (!ok) violations.push(`${scenario}: ${guarantee}`);
  say(`${scenario}: ${ok ? 'ok  ' : 'FAIL'} ${guarantee}`);
}
const TOKEN = 'reliability-token-0123456789';

/** apps/api/src/main.ts in a child process; resolves once it listens. */
async function spawnApi(env: Record<string, string>, logLevel = 'warn') {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/api/src/main.ts'], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      API_PORT: String(port),
      API_TOKENS: TOKEN,
      API_RATE_LIMIT_MAX: '100000000',
      LOG_LEVEL: logLevel,
      TSX_TSCONFIG_PATH: 'bench/tsconfig.json',
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`api exited (${code}): ${stderr}`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    /** Everything it logged (stdout and stderr) so far. */
    output: () => stdout + stderr,
    async stop() {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

async function countAllJobs(queues: QueueClient): Promise<number> {
  let total = 0;
  for (const name of QUEUE_NAMES) total += Object.values(await queues.getQueue(name).getJobCounts()).reduce((a, b) => a + b, 0);
  return total;
}

// ── crash: SIGKILL the worker at random moments ────────────────────────────────────────────────
async function crash(): Promise<void> {
  const scenario = 'crash';
  const peers = await startPeers({ ownServers: true });
  const env = workerEnv(peers);
  const queues = producerFor(env);
  const workers: WorkerProcess[] = [];
  try {
    const n = N.crashJobs;
    const db = new pg.Client({ connectionString: peers.postgres.url });
    await db.connect();
    await db.query(
      `INSERT INTO verification_tokens (token, user_id, expires_at)
       SELECT 'crash-token-' || i || '-0123456789', 'user-' || i, now() + interval '1 day' FROM generate_series(1, $1::int) AS i`,
      [n],
    );
    await db.end();
    const payload = (i: number) => ({
      userId: `user-${i}`,
      email: `user${i}@example.com`,
      firstName: 'Ana',
      token: `crash-token-${i}-0123456789`,
    });
    for (let i = 1; i <= n; i += 1000) {
      await queues.enqueueBulk(
        'email/verify',
        Array.from({ length: Math.min(1000, n - i + 1) }, (_, k) => payload(i + k)),
      );
    }
    const queue = queues.getQueue('email');
    const completed = async () => (await queue.getJobCounts('completed')).completed ?? 0;
    const thresholds = Array.from({ length: N.kills }, () => Math.floor(n * (0.05 + Math.random() * 0.85))).sort((a, b) => a - b);
    let worker = spawnWorker(env);
    workers.push(worker);
    await worker.ready;
    const started = Date.now();
    // Jobs a kill left active. A job killed twice is failed by design (maxStalledCount 1: a job
    // that takes its worker down twice is dead, docs/architecture.md), so the next kill waits
    // until these ran again: random kills, but never the same job twice.
    let killedMidway: string[] = [];
    for (const threshold of thresholds) {
      await waitFor(async () => (await completed()) >= threshold, { timeoutMs: 300_000, intervalMs: 20, what: `${threshold} completed` });
      await waitFor(async () => (await Promise.all(killedMidway.map((id) => queue.getJobState(id)))).every((s) => s === 'completed'), {
        timeoutMs: 60_000,
        intervalMs: 20,
        what: 'the jobs of the previous kill completed',
      });
      // A random extra moment inside the job stream, not always right at a completion.
      await sleep(Math.random() * 200);
      worker.child.kill('SIGKILL');
      await worker.exited;
      killedMidway = (await queue.getActive()).map((job) => String(job.id));
      say(`${scenario}: SIGKILL at ${await completed()} completed (${killedMidway.length} active); restarting`);
      worker = spawnWorker(env);
      workers.push(worker);
      await worker.ready;
    }
    await waitFor(async () => (await completed()) + ((await queue.getJobCounts('failed')).failed ?? 0) >= n, {
      timeoutMs: 300_000,
      intervalMs: 200,
      what: 'every job finished',
    });
    const seconds = (Date.now() - started) / 1000;
    const counts = await queue.getJobCounts();
    const jobs = await queue.getCompleted(0, -1);
    for (const job of await queue.getFailed(0, -1))
      say(`${scenario}: failed ${job.id}: ${job.failedReason} (stalled ${job.stalledCounter}, attempts ${job.attemptsMade})`);
    const ranTwice = jobs.filter((job) => job.stalledCounter > 0 || job.attemptsMade > 1).map((job) => String(job.id));
    // One mail per job id, honestly: under at-least-once a job killed after its mail went out but
    // before BullMQ recorded completion runs again and mails again. Every job must have mailed;
    // a second mail is only possible for a job that ran twice.
    const mailsPerJob = new Map<string, number>();
    for (const mail of peers.smtp.messages) {
      const token = /token=(crash-token-\d+-0123456789)/.exec(String(mail.parsed.text))?.[1];
      const userId = token?.replace(/^crash-token-(\d+)-.*$/, 'user-$1');
      const jobId = `email:verify:${userId}`;
      mailsPerJob.set(jobId, (mailsPerJob.get(jobId) ?? 0) + 1);
    }
    const doubled = [...mailsPerJob].filter(([, count]) => count > 1).map(([id]) => id);
    const ranTwiceSet = new Set(ranTwice);
    figures[scenario] = {
      jobs: n,
      kills: N.kills,
      seconds: Math.round(seconds),
      completed: counts.completed,
      failed: counts.failed,
      lost: n - (counts.completed ?? 0) - (counts.failed ?? 0),
      ranTwice: ranTwice.length,
      mails: peers.smtp.messages.length,
      jobIdsWithAMail: mailsPerJob.size,
      jobIdsWithTwoMails: doubled.length,
    };
    say(`${scenario}: ${JSON.stringify(figures[scenario])}`);
    check(scenario, counts.completed === n, `all ${n} jobs completed (got ${counts.completed}, failed ${counts.failed})`);
    check(scenario, mailsPerJob.size === n, `every job id sent its mail (${mailsPerJob.size}/${n})`);
    check(
      scenario,
      doubled.every((id) => ranTwiceSet.has(id)),
      'a job id mailed twice only when that job ran twice (killed mid-way)',
    );
    // A re-run finds the sent-mail record and does not mail again; only a kill between the SMTP
    // server's acceptance and that record (one INSERT) leaves a second mail: at most one per
    // mail in flight at each kill.
    check(
      scenario,
      doubled.length <= N.kills * 5,
      `at most kills × email concurrency job ids mailed twice (${doubled.length} ≤ ${N.kills * 5})`,
    );
  } finally {
    await Promise.all(workers.map(stopWorker));
    await queues.close();
    await peers.close();
  }
}

// ── Redis restart with AOF on ─────────────────────────────────────────────────────────────────
async function redisRestart(): Promise<void> {
  const scenario = 'redis-restart';
  const peers = await startPeers({ ownServers: true, redisAppendOnly: true });
  const env = workerEnv(peers);
  const api = await spawnApi(env);
  const worker = spawnWorker(env);
  const queues = producerFor(env);
  try {
    await worker.ready;
    peers.slack.setDelay(20);
    const accepted: string[] = [];
    const downAnswers: number[] = [];
    let down = false;
    const downStatuses = new Map<number, number>();
    let stop = false;
    let i = 0;
    let apiBackAt = 0;
    let restartedAt = 0;
    const loop = async () => {
      while (!stop) {
        const n = i++;
        const t0 = performance.now();
        const response = await post(`${api.url}/jobs/slack/alert`, { text: `restart ${n}`, dedupeKey: `restart-${n}` }).catch(
          () => undefined,
        );
        const ms = performance.now() - t0;
        const status = response?.status ?? 0;
        if (response) await response.arrayBuffer();
        if (status === 202) {
          accepted.push(`slack:alert:restart-${n}`);
          if (restartedAt && !apiBackAt) apiBackAt = Date.now();
        }
        if (down) {
          downAnswers.push(ms);
          downStatuses.set(status, (downStatuses.get(status) ?? 0) + 1);
        }
        await sleep(2);
      }
    };
    const loops = Promise.all([loop(), loop(), loop(), loop()]);
    await sleep(2_000);
    const beforeStop = accepted.length;
    await peers.redis.stop();
    down = true;
    await sleep(3_000);
    down = false;
    await peers.redis.start();
    restartedAt = Date.now();
    const completedAtRestart =
      (
        await queues
          .getQueue('slack')
          .getJobCounts('completed')
          .catch(() => ({ completed: 0 }))
      ).completed ?? 0;
    await waitFor(
      async () =>
        ((
          await queues
            .getQueue('slack')
            .getJobCounts('completed')
            .catch(() => ({ completed: 0 }))
        ).completed ?? 0) > completedAtRestart,
      { timeoutMs: 60_000, what: 'the worker to complete a job after the restart' },
    );
    const workerBackMs = Date.now() - restartedAt;
    await waitFor(() => apiBackAt > 0, { timeoutMs: 60_000, what: 'the API to accept again' });
    await sleep(1_000);
    stop = true;
    await loops;
    const queue = queues.getQueue('slack');
    await waitFor(async () => ((await queue.getJobCounts('completed')).completed ?? 0) >= accepted.length, {
      timeoutMs: 120_000,
      intervalMs: 200,
      what: 'every accepted job completed',
    });
    const states = await Promise.all(accepted.map((id) => queue.getJobState(id)));
    const lost = states.filter((state) => state === 'unknown').length;
    const maxDownMs = Math.max(...downAnswers);
    figures[scenario] = {
      acceptedBeforeStop: beforeStop,
      accepted: accepted.length,
      lost,
      notCompleted: states.filter((s) => s !== 'completed').length,
      answersWhileDown: Object.fromEntries(downStatuses),
      slowestAnswerWhileDownMs: Math.round(maxDownMs),
      apiRecoveredSeconds: (apiBackAt - restartedAt) / 1000,
      workerRecoveredSeconds: workerBackMs / 1000,
    };
    say(`${scenario}: ${JSON.stringify(figures[scenario])}`);
    check(scenario, lost === 0, `0 accepted jobs lost (${lost} of ${accepted.length})`);
    check(
      scenario,
      states.every((s) => s === 'completed'),
      'every accepted job completed after the restart',
    );
    check(
      scenario,
      downAnswers.length > 0 && [...downStatuses.keys()].every((s) => s === 503),
      'while Redis was down every enqueue was answered 503',
    );
    check(scenario, maxDownMs < 1_000, `503 answered quickly (slowest ${Math.round(maxDownMs)} ms < 1000 ms)`);
    check(scenario, apiBackAt - restartedAt < 10_000 && workerBackMs < 10_000, 'API and worker recovered by themselves within 10 s');
  } finally {
    await stopWorker(worker);
    await api.stop();
    await queues.close();
    await peers.close();
  }
}

// ── graceful stop: SIGTERM with 50 jobs active ─────────────────────────────────────────────────
async function gracefulStop(): Promise<void> {
  const scenario = 'graceful-stop';
  const peers = await startPeers({ ownServers: true });
  const env = workerEnv(peers);
  const queues = producerFor(env);
  // The slack queue's concurrency is 10 per process: five processes hold 50 jobs at once.
  const workers = Array.from({ length: 5 }, () => spawnWorker(env));
  try {
    await Promise.all(workers.map((w) => w.ready));
    peers.slack.setDelay(2_000);
    const ids = (
      await queues.enqueueBulk(
        'slack/alert',
        Array.from({ length: 50 }, (_, i) => ({ text: `graceful ${i}`, dedupeKey: `graceful-${i}` })),
      )
    ).map((r) => r.jobId);
    await waitFor(() => peers.slack.requests.length >= 50, { timeoutMs: 20_000, what: '50 jobs active' });
    const queue = queues.getQueue('slack');
    const active = (await queue.getJobCounts('active')).active;
    for (const w of workers) w.child.kill('SIGTERM');
    const exits = await Promise.all(workers.map((w) => w.exited));
    const jobs = await Promise.all(ids.map((id) => queue.getJob(id)));
    const states = await Promise.all(ids.map((id) => queue.getJobState(id)));
    const completed = states.filter((s) => s === 'completed').length;
    const stalled = jobs.filter((job) => (job?.stalledCounter ?? 0) > 0).length;
    figures[scenario] = { activeAtSignal: active, completed, stalled, exitCodes: exits.map((e) => e.code) };
    say(`${scenario}: ${JSON.stringify(figures[scenario])}`);
    check(scenario, active === 50, `50 jobs active when SIGTERM arrived (${active})`);
    check(scenario, completed === 50, `all 50 completed (${completed})`);
    check(scenario, stalled === 0, `none stalled (${stalled})`);
    check(
      scenario,
      exits.every((e) => e.code === 0),
      'every worker exited 0',
    );
  } finally {
    await Promise.all(workers.map(stopWorker));
    await queues.close();
    await peers.close();
  }
}

// ── bad input: generated malformed requests ────────────────────────────────────────────────────
const VALID: Record<string, Record<string, unknown>> = {
  'email/verify': { userId: 'u-1', email: 'ana@example.com', firstName: 'Ana', token: 'abcdefghijklmnop1234' },
  'email/welcome': { userId: 'u-1', email: 'ana@example.com', firstName: 'Ana' },
  'slack/alert': { text: 'disk almost full', dedupeKey: 'disk-1' },
  'files/validate-cv': { userId: 'u-1', fileKey: 'cv/u-1.pdf' },
  'files/optimize-profile-picture': { userId: 'u-1', fileKey: 'avatars/u-1.png' },
};

/** Could the API accept this body? Conservative: such bodies are not sent at all. */
function maybeValid(route: string, body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const [queue, job] = route.split('/') as [string, string];
  const { delay: _d, priority: _p, ...payload } = body as Record<string, unknown>;
  return schemaIssues(findJobDefinition(queue, job)!.schema, payload).length === 0;
}

async function badInput(): Promise<void> {
  const scenario = 'bad-input';
  const peers = await startPeers({ ownServers: true });
  const env = workerEnv(peers);
  const api = await spawnApi(env);
  const queues = producerFor(env);
  try {
    const routes = Object.keys(VALID);
    const requestArb = fc.oneof(
      // A valid payload with one field replaced by anything (or added), or removed.
      fc
        .record({
          route: fc.constantFrom(...routes),
          field: fc.oneof(
            fc.constantFrom(
              'userId',
              'email',
              'firstName',
              'token',
              'text',
              'dedupeKey',
              'fileKey',
              'severity',
              'delay',
              'priority',
              '__proto__',
              'constructor',
            ),
            fc.string(),
          ),
          value: fc.oneof(fc.anything(), fc.constant(undefined), fc.string({ maxLength: 2000 })),
        })
        .map(({ route, field, value }) => {
          const body: Record<string, unknown> = { ...VALID[route] };
          if (value === undefined) delete body[field];
          else Object.defineProperty(body, field, { value, enumerable: true, configurable: true, writable: true });
          return { path: `/jobs/${route}`, route, body: JSON.stringify(body) as string, contentType: 'application/json' };
        }),
      fc.record({ route: fc.constantFrom(...routes), body: fc.anything() }).map(({ route, body }) => ({
        path: `/jobs/${route}`,
        route,
        body: JSON.stringify(body) ?? 'null',
        contentType: 'application/json',
      })),
      // Not JSON at all, or another content type.
      fc
        .record({
          route: fc.constantFrom(...routes),
          body: fc.string({ maxLength: 500 }),
          contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data'),
        })
        .map((r) => ({ ...r, path: `/jobs/${r.route}` })),
      // A batch with one bad item among valid ones.
      fc.record({ route: fc.constantFrom(...routes), bad: fc.anything(), at: fc.nat(20) }).map(({ route, bad, at }) => {
        const items: unknown[] = Array.from({ length: 21 }, (_, i) => ({
          ...VALID[route],
          userId: `b-${i}`,
          dedupeKey: `b-${i}`,
          fileKey: `cv/b-${i}.pdf`,
        }));
        items[at] = bad;
        return { path: `/jobs/${route}/batch`, route, body: JSON.stringify({ items }), contentType: 'application/json', batchBad: bad };
      }),
      // Unknown job types and garbage paths.
      fc
        .record({ path: fc.string({ maxLength: 80 }).map((s) => `/jobs/${encodeURIComponent(s)}/${s.length}`), body: fc.json() })
        .map(({ path, body }) => ({ path, route: '', body, contentType: 'application/json' })),
    );
    const samples = fc.sample(requestArb, { numRuns: N.badRequests * 2 });
    const requests = samples
      .filter((r) => {
        if (!r.route || r.contentType !== 'application/json') return true;
        if (r.path.endsWith('/batch')) return !maybeValid(r.route, (r as { batchBad?: unknown }).batchBad);
        try {
          return !maybeValid(r.route, JSON.parse(r.body));
        } catch {
          return true;
        }
      })
      .slice(0, N.badRequests);
    const rssBefore = await rssMiB(api.child.pid!);
    const statuses = new Map<number, number>();
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < requests.length) {
          const r = requests[next++]!;
          const response = await fetch(`${api.url}${r.path}`, {
            method: 'POST',
            headers: { 'content-type': r.contentType, authorization: `Bearer ${TOKEN}` },
            body: r.body,
          });
          await response.arrayBuffer();
          statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    await sleep(500);
    const rssAfter = await rssMiB(api.child.pid!);
    const fiveXx = [...statuses].filter(([s]) => s >= 500).reduce((a, [, c]) => a + c, 0);
    const jobs = await countAllJobs(queues);
    figures[scenario] = {
      requests: requests.length,
      seconds,
      statuses: Object.fromEntries([...statuses].sort()),
      fiveXx,
      jobsEnqueued: jobs,
      rssBeforeMiB: Math.round(rssBefore),
      rssAfterMiB: Math.round(rssAfter),
    };
    say(`${scenario}: ${JSON.stringify(figures[scenario])}`);
    check(scenario, requests.length === N.badRequests, `${N.badRequests} malformed requests generated (${requests.length})`);
    check(scenario, fiveXx === 0, `0 answers 5xx (${fiveXx})`);
    check(scenario, jobs === 0, `0 jobs enqueued (${jobs})`);
    // "Stable": no growth that scales with the number of requests; allocator noise is tolerated.
    check(scenario, rssAfter < rssBefore * 1.5 + 20, `API memory stable (${Math.round(rssBefore)} → ${Math.round(rssAfter)} MiB)`);
  } finally {
    await api.stop();
    await queues.close();
    await peers.close();
  }
}

// ── dead letters and cron with three worker instances ──────────────────────────────────────────
async function threeInstances(): Promise<void> {
  const peers = await startPeers({ ownServers: true });
  peers.smtp.setRules([{ match: /^dead-/, code: 550, message: 'no such mailbox' }]);
  // debug: the per-job lines; one alert per dead job (no digest, no Slack rate) so each is told apart.
  const env = workerEnv(peers, {
    CLEAN_TOKENS_CRON: '* * * * * *',
    LOG_LEVEL: 'debug',
    DEAD_LETTER_DIGEST_AFTER: '1000',
    SLACK_RATE_PER_SECOND: '1000',
  });
  const queues = producerFor(env);
  const workers = Array.from({ length: 3 }, () => spawnWorker(env));
  try {
    await Promise.all(workers.map((w) => w.ready));
    const cronStarted = Date.now();
    let scenario = 'dead-letters';
    const results = await queues.enqueueBulk(
      'email/welcome',
      Array.from({ length: N.deadJobs }, (_, i) => ({ userId: `dead-${i}-x`, email: `dead-${i}@example.com`, firstName: 'Ana' })),
    );
    const ids = results.map((r) => r.jobId);
    const email = queues.getQueue('email');
    await waitFor(async () => ((await email.getJobCounts('failed')).failed ?? 0) >= ids.length, {
      timeoutMs: 30_000,
      what: 'every job dead',
    });
    const db = new pg.Client({ connectionString: peers.postgres.url });
    await db.connect();
    const rowsFor = async () => (await db.query<{ job_id: string }>('SELECT job_id FROM failed_jobs WHERE queue = $1', ['email'])).rows;
    await waitFor(async () => (await rowsFor()).length >= ids.length, { timeoutMs: 15_000, what: 'failed_jobs rows' });
    // Give a duplicate time to show up before counting.
    await sleep(3_000);
    const rows = await rowsFor();
    const alerts = (id: string) => peers.slack.requests.filter((r) => String((r.body as { text?: string }).text).includes(id)).length;
    const rowsPerJob = ids.map((id) => rows.filter((row) => row.job_id === id).length);
    const alertsPerJob = ids.map(alerts);
    figures[scenario] = {
      instances: 3,
      deadJobs: ids.length,
      failedJobsRows: rows.length,
      slackAlerts: alertsPerJob.reduce((a, b) => a + b, 0),
    };
    say(`${scenario}: ${JSON.stringify(figures[scenario])}`);
    check(scenario, rowsPerJob.every((c) => c === 1) && rows.length === ids.length, 'exactly one failed_jobs row per dead job');
    check(
      scenario,
      alertsPerJob.every((c) => c === 1),
      'exactly one Slack alert per dead job',
    );
    await db.end();

    scenario = 'cron';
    await sleep(Math.max(0, 7_000 - (Date.now() - cronStarted)));
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    const maintenance = queues.getQueue('maintenance');
    const completed = (await maintenance.getCompleted(0, -1)).filter((job) => job.name === 'clean-verification-tokens');
    const ticks = completed.map((job) => Number(String(job.id).split(':').pop())).sort((a, b) => a - b);
    const runs = workers
      .flatMap((w) => w.logs)
      .filter((e) => e.msg === 'job completed' && e.queue === 'maintenance')
      .map((e) => String(e.jobId));
    const gaps = ticks.slice(1).map((t, i) => t - ticks[i]!);
    figures[scenario] = {
      instances: 3,
      ticks: ticks.length,
      runs: runs.length,
      distinctTicks: new Set(ticks).size,
      gapsMs: [...new Set(gaps)],
    };
    say(`${scenario}: ${JSON.stringify(figures[scenario])}`);
    check(scenario, ticks.length >= 4, `the per-second schedule ticked (${ticks.length} ticks)`);
    check(scenario, new Set(ticks).size === ticks.length && gaps.every((g) => g === 1000), 'one job per tick, none skipped or doubled');
    check(scenario, runs.length === ticks.length && new Set(runs).size === runs.length, 'each tick ran once, in one instance');
  } finally {
    await Promise.all(workers.map(stopWorker));
    await queues.close();
    await peers.close();
  }
}

/**
 * Redis failover under load (tests/lib/failover.ts): SENTINEL FAILOVER with one replica and
 * REDIS_WAIT_REPLICAS=1; SENTINEL FAILOVER with two replicas and WAIT all (0 lost, asserted);
 * SIGKILL of the master with two replicas and WAIT 1; SIGKILL without WAIT; in the full run also
 * SIGKILL with two replicas and WAIT all, and SENTINEL FAILOVER with two replicas and WAIT 1
 * (its losses reported).
 */
async function failover(): Promise<void> {
  const scenario = 'failover';
  const peers = await startPeers({ ownServers: true });
  try {
    const runs: Array<{ name: string; replicas: number; mode: 'failover' | 'kill'; extra: Record<string, string> }> = [
      { name: 'SENTINEL FAILOVER, 1 replica, WAIT 1', replicas: 1, mode: 'failover', extra: { REDIS_WAIT_REPLICAS: '1' } },
      { name: 'SENTINEL FAILOVER, 2 replicas, WAIT all', replicas: 2, mode: 'failover', extra: { REDIS_WAIT_REPLICAS: 'all' } },
      { name: 'SIGKILL master, 2 replicas, WAIT 1', replicas: 2, mode: 'kill', extra: { REDIS_WAIT_REPLICAS: '1' } },
      { name: 'SIGKILL master, 1 replica, no WAIT', replicas: 1, mode: 'kill', extra: {} },
      ...(QUICK
        ? []
        : [
            { name: 'SIGKILL master, 2 replicas, WAIT all', replicas: 2, mode: 'kill' as const, extra: { REDIS_WAIT_REPLICAS: 'all' } },
            { name: 'SENTINEL FAILOVER, 2 replicas, WAIT 1', replicas: 2, mode: 'failover' as const, extra: { REDIS_WAIT_REPLICAS: '1' } },
          ]),
    ];
    for (const { name, replicas, mode, extra } of runs) {
      const group = await startRedisSentinelGroup({ replicas, sentinels: 3 });
      try {
        const run = await underLoad(peers, group, mode, extra);
        const { timeline, ...figuresOfRun } = run;
        const summary = {
          ...figuresOfRun,
          acknowledged: run.acknowledged.length,
          lost: run.lost.length,
          notCompleted: run.notCompleted.length,
        };
        (figures[scenario] ??= {})[name] = summary;
        say(`${scenario}: ${name}: ${JSON.stringify(summary)}`);
        const before = violations.length;
        check(scenario, run.workerBackAfterMs < 10_000, `${name}: the worker completes jobs again within 10 s of the promotion`);
        const waitAll = extra.REDIS_WAIT_REPLICAS === 'all';
        // After a kill with WAIT all, the dead master counts until the sentinels flag it down: the 10 s rule.
        const backAfterMs = waitAll ? (mode === 'failover' ? run.allReplicasBackAfterMs : undefined) : run.replicaBackAfterMs;
        if (backAfterMs === undefined)
          check(scenario, (run.refusedUntil ?? 0) < 10_000, `${name}: the API accepts again within 10 s of the promotion`);
        else
          check(
            scenario,
            (run.refusedUntil ?? 0) < backAfterMs + 2_000,
            `${name}: the API accepts again within 2 s of ${waitAll ? 'every running replica' : 'a replica'} being in sync`,
          );
        // Reported, not a guarantee: with fewer replicas to wait for than replicas, a manual
        // failover can lose acknowledged writes (docs/reliability.md). With all: none lost.
        if (waitAll || extra.REDIS_WAIT_REPLICAS === String(replicas))
          check(scenario, run.lost.length === 0 && run.notCompleted.length === 0, `${name}: no acknowledged job lost, every one completed`);
        if (violations.length > before || process.env.FAILOVER_DEBUG) {
          say(`${scenario}: ${name}: what the nodes said (ms after the promotion):\n  ${timeline.join('\n  ')}`);
          say(`${scenario}: ${name}: the sentinels' events:\n  ${(await group.events()).join('\n  ')}`);
        }
      } finally {
        await group.close();
      }
    }
  } finally {
    await peers.close();
  }
}

// ── hostile files: bombs in the files queue while mails flow ─────────────────────────────────────
async function fileBombs(): Promise<void> {
  const scenario = 'file-bombs';
  const { makeFlateBombPdf, makePageTreeBomb, makeZipBombDocx } = await import('../apps/worker/tests/files/hostile');
  const { mkdir, writeFile, mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const peers = await startPeers({ ownServers: true });
  const uploads = await mkdtemp(path.join(tmpdir(), 'ceres-reliability-uploads-'));
  const env = workerEnv(peers, { UPLOADS_DIR: uploads });
  const queues = producerFor(env);
  const worker = spawnWorker(env);
  try {
    const bombs: Record<string, Buffer> = {
      'cvs/a/page-tree.pdf': makePageTreeBomb(27),
      'cvs/b/flate.pdf': makeFlateBombPdf(3 * 1024),
      'cvs/c/zip-bomb.docx': makeZipBombDocx(),
    };
    for (const [key, bytes] of Object.entries(bombs)) {
      await mkdir(path.dirname(path.join(uploads, key)), { recursive: true });
      await writeFile(path.join(uploads, key), bytes);
    }
    await worker.ready;
    const pid = worker.child.pid!;
    const db = new pg.Client({ connectionString: peers.postgres.url });
    await db.connect();
    await db.query(
      `INSERT INTO verification_tokens (token, user_id, expires_at) SELECT 'bomb-token-' || i || '-0123456789', 'bomb-user-' || i, now() + interval '1 day' FROM generate_series(1, 20) AS i`,
    );
    await db.end();
    let peakRss = await rssMiB(pid);
    const sampler = setInterval(
      () =>
        void rssMiB(pid).then(
          (mib) => (peakRss = Math.max(peakRss, mib)),
          () => {},
        ),
      100,
    );
    const started = Date.now();
    const jobs = await Promise.all(
      Object.keys(bombs).map(async (fileKey, i) => ({
        fileKey,
        jobId: (await queues.enqueue('files/validate-cv', { userId: `bomb-${i}`, fileKey })).jobId,
      })),
    );
    // 20 verify mails, one every 250 ms, while the bombs are inspected.
    const mailLatencies: number[] = [];
    for (let i = 1; i <= 20; i++) {
      const sentAt = Date.now();
      const before = peers.smtp.messages.length;
      await queues.enqueue('email/verify', {
        userId: `bomb-user-${i}`,
        email: `bomb${i}@example.com`,
        firstName: 'Ana',
        token: `bomb-token-${i}-0123456789`,
      });
      await waitFor(() => peers.smtp.messages.length > before, { timeoutMs: 10_000, intervalMs: 5, what: `verify mail ${i}` });
      mailLatencies.push(Date.now() - sentAt);
      await sleep(250);
    }
    const files = queues.getQueue('files');
    const outcomes = [];
    for (const { fileKey, jobId } of jobs) {
      const job = await waitFor(async () => ((await files.getJobState(jobId)) === 'failed' ? files.getJob(jobId) : undefined), {
        timeoutMs: 60_000,
        what: `${fileKey} to fail`,
      });
      outcomes.push({
        fileKey,
        bytes: bombs[fileKey]!.length,
        failedAfterMs: job!.finishedOn! - started,
        attempts: job!.attemptsMade,
        reason: job!.failedReason,
      });
    }
    clearInterval(sampler);
    const alive = worker.child.exitCode === null && worker.child.signalCode === null && worker.child.pid === pid;
    figures[scenario] = {
      bombs: outcomes,
      verifyMails: mailLatencies.length,
      slowestMailMs: Math.max(...mailLatencies),
      workerPeakRssMiB: Math.round(peakRss),
      workerKeptPid: alive,
    };
    say(`${scenario}: ${JSON.stringify(figures[scenario])}`);
    check(
      scenario,
      outcomes.every((o) => o.failedAfterMs < 15_000),
      'each bomb failed its job in under 15 s',
    );
    check(
      scenario,
      outcomes.every((o) => o.attempts === 1),
      'each bomb failed at once, no retries',
    );
    check(
      scenario,
      /PDF page tree too deep/.test(outcomes[0]!.reason) &&
        /PDF expands beyond/.test(outcomes[1]!.reason) &&
        /DOCX expands beyond/.test(outcomes[2]!.reason),
      'each reason says what the file is',
    );
    check(
      scenario,
      Math.max(...mailLatencies) < 2_000,
      `every verify mail arrived in under 2 s (slowest ${Math.max(...mailLatencies)} ms)`,
    );
    check(scenario, alive, 'the worker kept its pid and kept running');
  } finally {
    await stopWorker(worker);
    await queues.close();
    await peers.close();
    await rm(uploads, { recursive: true, force: true });
  }
}

// ── PostgreSQL down while jobs die ──────────────────────────────────────────────────────────────
async function postgresOutage(): Promise<void> {
  const scenario = 'postgres-outage';
  const peers = await startPeers({ ownServers: true });
  peers.smtp.setRules([{ match: /^pgdown-/, code: 550, message: 'no such mailbox' }]);
  // The periodic reconciliation pushed out: the retries of the recording must do it.
  // One alert per dead job (no digest), so each is told apart.
  const env = workerEnv(peers, { DEAD_LETTER_RECONCILE_INTERVAL_MS: '600000', DEAD_LETTER_DIGEST_AFTER: '1000' });
  const queues = producerFor(env);
  const worker = spawnWorker(env);
  try {
    await worker.ready;
    const pid = worker.child.pid;
    const stoppedAt = Date.now();
    await peers.postgres.stop();
    const ids = (
      await queues.enqueueBulk(
        'email/welcome',
        Array.from({ length: 10 }, (_, i) => ({ userId: `pgdown-${i}-x`, email: `pgdown-${i}@example.com`, firstName: 'Ana' })),
      )
    ).map((r) => r.jobId);
    const email = queues.getQueue('email');
    await waitFor(async () => ((await email.getJobCounts('failed')).failed ?? 0) >= ids.length, {
      timeoutMs: 30_000,
      what: 'every job dead',
    });
    const alerts = (id: string) =>
      peers.slack.requests.filter((r) => String((r.body as { text?: string }).text).includes(`\`${id}\``)).length;
    const alertsWhileDown = ids.filter((id) => alerts(id) > 0).length;
    await sleep(Math.max(0, 20_000 - (Date.now() - stoppedAt)));
    await peers.postgres.start();
    const restartedAt = Date.now();
    const db = new pg.Client({ connectionString: peers.postgres.url });
    await db.connect();
    const rowsFor = async () => (await db.query<{ job_id: string }>('SELECT job_id FROM failed_jobs WHERE queue = $1', ['email'])).rows;
    await waitFor(async () => (await rowsFor()).length >= ids.length && ids.every((id) => alerts(id) > 0), {
      timeoutMs: 90_000,
      intervalMs: 100,
      what: '10 rows and 10 alerts',
    });
    const recoveredSeconds = (Date.now() - restartedAt) / 1000;
    await sleep(3_000);
    const rows = await rowsFor();
    await db.end();
    figures[scenario] = {
      deadJobs: ids.length,
      postgresDownSeconds: Math.round((restartedAt - stoppedAt) / 1000),
      alertsWhileDown,
      failedJobsRows: rows.length,
      slackAlerts: ids.reduce((sum, id) => sum + alerts(id), 0),
      archivedSecondsAfterStart: recoveredSeconds,
    };
    say(`${scenario}: ${JSON.stringify(figures[scenario])}`);
    check(
      scenario,
      ids.every((id) => rows.filter((row) => row.job_id === id).length === 1),
      'exactly one failed_jobs row per dead job',
    );
    check(
      scenario,
      ids.every((id) => alerts(id) === 1),
      'exactly one Slack alert per dead job',
    );
    check(scenario, recoveredSeconds < 60, `archived within a minute of PostgreSQL's return (${recoveredSeconds} s)`);
    check(scenario, worker.child.pid === pid && worker.child.exitCode === null, 'without restarting the worker');
  } finally {
    await stopWorker(worker);
    await queues.close();
    await peers.close();
  }
}

// ── Redis at maxmemory (noeviction) ─────────────────────────────────────────────────────────────
async function redisOom(): Promise<void> {
  const scenario = 'redis-oom';
  const peers = await startPeers({ ownServers: true });
  const env = workerEnv(peers);
  // Debug: the level at which a 503 is logged, so the check below sees every line there is.
  const api = await spawnApi(env, 'debug');
  const queues = producerFor(env);
  try {
    const token = (n: number) => `oom-secret-${n}-0123456789`;
    const body = (n: number) => ({ userId: `oom-${n}`, email: `oom-person-${n}@example.com`, firstName: 'Ana', token: token(n) });
    expect202(await post(`${api.url}/jobs/email/verify`, body(0)));
    const admin = createRedisConnection(queues.config, 'worker');
    await admin.call('CONFIG', 'SET', 'maxmemory', '1');
    const statuses = new Map<number, number>();
    let withRetryAfter = 0;
    let slowest = 0;
    const n = 500;
    for (let i = 1; i <= n; i++) {
      const t0 = performance.now();
      const response = await post(`${api.url}/jobs/email/verify`, body(i));
      slowest = Math.max(slowest, performance.now() - t0);
      const json = (await response.json()) as { code?: string };
      const key = response.status === 503 && json.code === 'QUEUE_UNAVAILABLE' ? 503 : response.status;
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      if (response.headers.get('retry-after')) withRetryAfter++;
    }
    await admin.call('CONFIG', 'SET', 'maxmemory', '0');
    admin.disconnect();
    const afterStatus = (await post(`${api.url}/jobs/email/verify`, body(n + 1))).status;
    await sleep(500);
    const output = api.output();
    const leaked = output.split('\n').filter((line) => /oom-secret-|oom-person-/.test(line)).length;
    figures[scenario] = {
      requests: n,
      answers: Object.fromEntries(statuses),
      withRetryAfter,
      slowestMs: Math.round(slowest),
      afterFreeing: afterStatus,
      logLines: output.split('\n').filter(Boolean).length,
      logLinesWithPayload: leaked,
    };
    say(`${scenario}: ${JSON.stringify(figures[scenario])}`);
    check(
      scenario,
      statuses.get(503) === n && withRetryAfter === n,
      `every enqueue at maxmemory answered 503 QUEUE_UNAVAILABLE with Retry-After (${statuses.get(503) ?? 0}/${n})`,
    );
    check(scenario, leaked === 0, 'no log line holds the token or the address');
    check(scenario, afterStatus === 202, 'accepted again once memory is freed');
  } finally {
    await api.stop();
    await queues.close();
    await peers.close();
  }
}

function expect202(response: Response): void {
  if (response.status !== 202) throw new Error(`expected 202, got ${response.status}`);
}

const started = Date.now();
say(`${QUICK ? 'quick' : 'full'} run: ${JSON.stringify(N)}`);
/** `RELIABILITY_ONLY=redisRestart,badInput`: run some scenarios only (when looking into one). */
const only = process.env.RELIABILITY_ONLY?.split(',');
const scenarios = [crash, redisRestart, gracefulStop, badInput, threeInstances, fileBombs, postgresOutage, redisOom, failover];
for (const scenario of scenarios.filter((fn) => !only || only.includes(fn.name))) {
  try {
    await scenario();
  } catch (error) {
    violations.push(`${scenario.name}: ${(error as Error).message}`);
    say(`${scenario.name}: FAIL ${(error as Error).stack}`);
  }
}
const seconds = Math.round((Date.now() - started) / 1000);
console.log(`\n${JSON.stringify({ quick: QUICK, seconds, node: process.version, figures }, null, 2)}`);
if (violations.length > 0) {
  console.error(`\n${violations.length} guarantee(s) violated:\n- ${violations.join('\n- ')}`);
  process.exit(1);
}
console.log(`\nevery guarantee held (${seconds} s)`);
process.exit(0);
