// Issue 28, point 3: a real Prometheus (Debian's /usr/bin/prometheus) scrapes a running queues-ui
// (its main.ts, basic auth) while a real worker (its main.ts) runs jobs, with deploy/prometheus/
// alerts.yml loaded. Then every panel query of deploy/grafana/ceres-jobs.json (variables
// substituted as Grafana would), the queue variable's query and every rule's expression are
// evaluated through Prometheus's HTTP API: none errors, and each panel query and each series a
// rule reads returns data.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { freePort, makeTempDir, waitFor } from '@ceres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startPeers,
  spawnWorker,
  stopWorker,
  workerEnv,
  producerFor,
  type Peers,
  type WorkerProcess,
} from '../apps/worker/tests/helpers/harness';
import { loadDashboard, loadRules, panelQueries, RULES_FILE, ROOT } from './support/monitoring';

const PROMETHEUS = '/usr/bin/prometheus';
const UI_USER = 'prometheus';
const UI_PASS = randomBytes(18).toString('base64');

/** A child process with its output kept for the failure message, and a way to stop it for good. */
interface Child {
  process: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    process: child,
    output,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

interface QueryResult {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: unknown[] };
}

let peers: Peers;
let dir: { path: string; remove(): Promise<void> };
let ui: Child | undefined;
let worker: WorkerProcess | undefined;
let prometheus: Child | undefined;
let promUrl: string;

async function query(expr: string): Promise<QueryResult> {
  const response = await fetch(`${promUrl}/api/v1/query?${new URLSearchParams({ query: expr })}`);
  return (await response.json()) as QueryResult;
}

/** A query's series, or the error that made it fail. */
async function evaluate(expr: string): Promise<{ error?: string; series: number }> {
  const result = await query(expr);
  if (result.status !== 'success') return { error: result.error ?? 'no error message', series: 0 };
  return { series: result.data?.result.length ?? 0 };
}

const dashboard = loadDashboard();
const rules = loadRules();
/** What Grafana sends for the queue variable's "All" and a rate interval of 4 scrapes or more. */
const PANELS = panelQueries(dashboard, { queue: '.*', rateInterval: '1m' });
/** The queue variable's `label_values(<series>, <label>)`, as the label-values call Grafana makes. */
const [, QUEUE_SERIES, QUEUE_LABEL] = /^label_values\((.+), (\w+)\)$/.exec(
  dashboard.templating.list.find((variable) => variable.name === 'queue')?.definition ?? '',
) ?? ['', '', ''];

/** The series selectors a rule's expression reads (`name{matchers}`), each of which must return data. */
function selectors(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(ceres_[a-z0-9_]+|up)(\{[^}]*\})?(?=\s*[[)\s]|$)/g)].map((match) => match[0]))];
}

beforeAll(async () => {
  const [uiPort, promPort] = [await freePort(), await freePort()];
  [peers, dir] = await Promise.all([startPeers(), makeTempDir('prometheus-live')]);
  const env = workerEnv(peers, { UPLOADS_DIR: `${dir.path}/uploads` });
  await mkdir(`${dir.path}/uploads`);
  ui = start(process.execPath, ['--import', 'tsx', 'apps/queues-ui/src/main.ts'], {
    ...process.env,
    ...env,
    QUEUES_UI_USER: UI_USER,
    QUEUES_UI_PASS: UI_PASS,
    QUEUES_UI_HOST: '127.0.0.1',
    QUEUES_UI_PORT: String(uiPort),
    LOG_LEVEL: 'warn',
    TSX_TSCONFIG_PATH: 'apps/queues-ui/tsconfig.json',
  });
  worker = spawnWorker(env);

  await writeFile(`${dir.path}/ui.pass`, UI_PASS);
  await writeFile(
    `${dir.path}/prometheus.yml`,
    JSON.stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [RULES_FILE],
      scrape_configs: [
        {
          job_name: 'ceres-queues-ui',
          basic_auth: { username: UI_USER, password_file: `${dir.path}/ui.pass` },
          static_configs: [{ targets: [`127.0.0.1:${uiPort}`] }],
        },
      ],
    }),
  );
  promUrl = `http://127.0.0.1:${promPort}`;
  prometheus = start(
    PROMETHEUS,
    [
      `--config.file=${dir.path}/prometheus.yml`,
      `--storage.tsdb.path=${dir.path}/data`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ],
    process.env,
  );

  /** Waits until the child answers 200 at `url`; its output goes with the timeout's error. */
  const answering = async (child: Child, url: string, what: string) => {
    const ok = () =>
      fetch(url).then(
        (response) => response.ok,
        () => false,
      );
    await waitFor(ok, { timeoutMs: 30_000, intervalMs: 100, what }).catch((error: unknown) => {
      throw new Error(`${String(error)}; its output:\n${child.output.join('')}`);
    });
  };
  await Promise.all([
    answering(prometheus, `${promUrl}/-/ready`, 'Prometheus to be ready'),
    answering(ui, `http://127.0.0.1:${uiPort}/health`, 'queues-ui to be up'),
    worker.ready,
  ]);

  // Jobs through the real worker: Slack alerts and a welcome mail complete; a CV that is not there
  // fails for good at once (a dead letter).
  const producer = producerFor(env);
  try {
    await producer.ready();
    const done = [
      ...(await Promise.all([1, 2, 3, 4, 5].map((n) => producer.enqueue('slack/alert', { text: `live test ${n}` })))),
      await producer.enqueue('email/welcome', { userId: 'live-1', email: 'live-1@example.com', firstName: 'Ana' }),
    ];
    const failing = await producer.enqueue('files/validate-cv', { userId: 'live-1', fileKey: 'cv/none.pdf' });
    const state = (queue: 'slack' | 'email' | 'files', jobId: string) => producer.getQueue(queue).getJobState(jobId);
    const states = async () => [
      ...(await Promise.all(done.map(({ jobId }) => state(jobId.startsWith('email') ? 'email' : 'slack', jobId)))),
      (await state('files', failing.jobId)) === 'failed' ? 'completed' : 'files job not failed yet',
    ];
    await waitFor(async () => (await states()).every((s) => s === 'completed'), { timeoutMs: 20_000, what: 'the jobs to finish' }).catch(
      async (error: unknown) => {
        throw new Error(`${String(error)}: ${(await states()).join(', ')}; worker: ${worker!.stderr.join('')}`);
      },
    );
  } finally {
    await producer.close();
  }
  // Prometheus has scraped them, and evaluated every rule since.
  await waitFor(async () => (await evaluate('ceres_queue_jobs_completed_total{queue="slack"} >= 5')).series === 1, {
    timeoutMs: 15_000,
    what: 'Prometheus to scrape the completed jobs',
  });
  const scrapedAt = Date.now() / 1000;
  await waitFor(
    async () => {
      const response = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
        data: { groups: Array<{ rules: Array<{ lastEvaluation: string }> }> };
      };
      const evaluated = response.data.groups.flatMap((group) => group.rules).map((rule) => Date.parse(rule.lastEvaluation) / 1000);
      return evaluated.length === rules.length && evaluated.every((at) => at > scrapedAt);
    },
    { timeoutMs: 10_000, what: 'Prometheus to evaluate every rule' },
  );
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([prometheus?.stop(), ui?.stop(), worker ? stopWorker(worker) : undefined]);
  await Promise.allSettled([peers?.close(), dir?.remove()]);
});

describe('the shipped rules and dashboard on a live Prometheus', () => {
  it('loads every rule of alerts.yml, each evaluated without error', async () => {
    const response = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> };
    };
    const loaded = response.data.groups.flatMap((group) => group.rules);
    expect(loaded.map((rule) => rule.name).sort()).toEqual(rules.map((rule) => rule.alert).sort());
    for (const rule of loaded)
      expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({ rule: rule.name, health: 'ok', error: '' });
  });

  it('evaluates every panel query, the queue variable and every rule expression without error', async () => {
    const exprs = [
      ...PANELS,
      { what: 'the queue variable', expr: `group by (${QUEUE_LABEL}) (${QUEUE_SERIES})` },
      ...rules.map((rule) => ({ what: `rule ${rule.alert}`, expr: rule.expr })),
    ];
    const errors: string[] = [];
    for (const { what, expr } of exprs) {
      const { error } = await evaluate(expr);
      if (error) errors.push(`${what}: ${error}`);
    }
    expect(errors).toEqual([]);
    // A broken query is reported as one.
    expect((await evaluate('rate(ceres_queue_jobs_completed_total)')).error).toBeTruthy();
  });

  it('gets data for every panel query, the queue variable and every series a rule reads', async () => {
    const response = (await (
      await fetch(`${promUrl}/api/v1/label/${QUEUE_LABEL}/values?${new URLSearchParams({ 'match[]': QUEUE_SERIES! })}`)
    ).json()) as { data: string[] };
    expect(response.data).toEqual(expect.arrayContaining(['email', 'files', 'slack']));
    const wanted = [
      ...PANELS,
      ...rules.flatMap((rule) => selectors(rule.expr).map((selector) => ({ what: `rule ${rule.alert} reads`, expr: selector }))),
    ];
    // The selectors are found at all (a rule reads at least one series).
    for (const rule of rules) expect(selectors(rule.expr).length, rule.alert).toBeGreaterThan(0);
    const empty = async () => {
      const missing: string[] = [];
      for (const { what, expr } of wanted) if ((await evaluate(expr)).series === 0) missing.push(`${what}: ${expr}`);
      return missing;
    };
    // A worker flushes its figures to Redis about once a second: give them a few scrapes to show.
    let missing: string[] = [];
    await waitFor(async () => (missing = await empty()).length === 0, {
      timeoutMs: 10_000,
      intervalMs: 250,
      what: 'data for every query',
    }).catch(() => {});
    expect(missing, 'queries that returned no data').toEqual([]);
  }, 30_000);
});
