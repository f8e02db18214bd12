import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  freePort,
  makeTempDir,
  sharedPostgres,
  sharedRedis,
  testEncryptionKey,
  waitFor,
  type PostgresPeer,
  type RedisPeer,
} from '@ceres/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';

// The real ecosystem file under a real PM2 (its own PM2_HOME, so a developer's PM2 is untouched),
// running the built apps against the run's shared Redis and PostgreSQL.
const root = fileURLToPath(new URL('..', import.meta.url));
const pm2Bin = join(root, 'node_modules', '.bin', 'pm2');
const API_TOKEN = 'ecosystem-test-token-0123456789';
const UI_PASS = 'ecosystem-test-password';

let redis: RedisPeer;
let postgres: PostgresPeer;
let home: Awaited<ReturnType<typeof makeTempDir>>;
let env: Record<string, string>;
let api: string;
let ui: string;

function pm2(...args: string[]) {
  const result = spawnSync(pm2Bin, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  if (result.status !== 0) throw new Error(`pm2 ${args.join(' ')} failed: ${result.stderr}${result.stdout}`);
  return result.stdout;
}

beforeAll(async () => {
  for (const built of ['apps/api/dist/main.js', 'apps/worker/dist/main.js', 'apps/queues-ui/dist/main.js', 'packages/db/dist/cli.js']) {
    if (!existsSync(join(root, built))) throw new Error(`${built} is missing: run npm run build (npm test does)`);
  }
  // The run's Redis under a prefix of its own; an empty database, which the migrate CLI fills.
  redis = sharedRedis();
  [postgres, home] = await Promise.all([sharedPostgres({ migrated: false }), makeTempDir('pm2')]);
  const [apiPort, uiPort] = [await freePort(), await freePort()];
  api = `http://127.0.0.1:${apiPort}`;
  ui = `http://127.0.0.1:${uiPort}`;
  env = {
    PM2_HOME: join(home.path, 'pm2'),
    PM2_LOG_DIR: join(home.path, 'log'),
    REDIS_URL: redis.url,
    REDIS_PREFIX: redis.prefix,
    DATABASE_URL: postgres.url,
    UNSUBSCRIBE_SECRET: 'ecosystem-unsubscribe-secret-0123',
    API_PORT: String(apiPort),
    API_TOKENS: API_TOKEN,
    JOBS_ENCRYPTION_KEYS: testEncryptionKey('v1'),
    API_INSTANCES: '2',
    QUEUES_UI_PORT: String(uiPort),
    QUEUES_UI_PASS: UI_PASS,
    OUTBOX_DIR: join(home.path, 'outbox'),
    UPLOADS_DIR: join(home.path, 'uploads'),
    LOG_LEVEL: 'warn',
  };
  const migrate = spawnSync(process.execPath, ['packages/db/dist/cli.js', 'migrate'], { cwd: root, env: { ...process.env, ...env } });
  expect(migrate.status).toBe(0);
  pm2('start', 'ecosystem.config.js');
}, 120_000);

afterAll(async () => {
  if (env) {
    spawnSync(pm2Bin, ['delete', 'all'], { cwd: root, env: { ...process.env, ...env }, timeout: 60_000 });
    spawnSync(pm2Bin, ['kill'], { cwd: root, env: { ...process.env, ...env }, timeout: 60_000 });
  }
  await postgres?.close();
  await home?.remove();
}, 120_000);

const enqueueAlert = (text: string) =>
  fetch(`${api}/jobs/slack/alert`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${API_TOKEN}` },
    body: JSON.stringify({ text }),
    signal: AbortSignal.timeout(10_000),
  });

it('runs the three apps; a job enqueued over HTTP completes; pm2 reload ceres-api drops no request', async () => {
  const processes = JSON.parse(pm2('jlist')) as Array<{ name: string; pm2_env: { status: string; exec_mode: string } }>;
  expect(processes.map((p) => p.name).sort()).toEqual(['ceres-api', 'ceres-api', 'ceres-queues-ui', 'ceres-worker']);
  expect(processes.find((p) => p.name === 'ceres-api')!.pm2_env.exec_mode).toBe('cluster_mode');
  await waitFor(async () => (await fetch(`${ui}/health`)).status === 200, { timeoutMs: 30_000, what: 'ceres-queues-ui health' });

  // Enqueue over HTTP and watch the worker complete it through the API's status route.
  const accepted = await enqueueAlert('ecosystem test');
  expect(accepted.status).toBe(202);
  const { jobId } = (await accepted.json()) as { jobId: string };
  const finished = await waitFor(
    async () => {
      const status = await fetch(`${api}/jobs/slack/${encodeURIComponent(jobId)}`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
      const body = (await status.json()) as { state: string };
      return body.state === 'completed' ? body : undefined;
    },
    { timeoutMs: 30_000, what: `job ${jobId} to complete` },
  );
  expect(finished.state).toBe('completed');

  // A bounded load of enqueue requests while the API instances are replaced one by one.
  const outcomes: Array<number | string> = [];
  let reloading = true;
  const deadline = Date.now() + 60_000;
  const client = async (id: number) => {
    for (let n = 0; (reloading || n < 5) && Date.now() < deadline; n++) {
      try {
        outcomes.push((await enqueueAlert(`reload load ${id}/${n}`)).status);
      } catch (error) {
        outcomes.push(String((error as Error & { cause?: { code?: string } }).cause?.code ?? error));
      }
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, (_, id) => client(id)));
  await new Promise((resolve) => setTimeout(resolve, 300));
  // Asynchronous on purpose: the load must keep running while PM2 reloads.
  const reload = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(pm2Bin, ['reload', 'ceres-api'], { cwd: root, env: { ...process.env, ...env } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code) => resolve({ code, output }));
  });
  reloading = false;
  await load;
  expect(reload.code, reload.output).toBe(0);
  const failures = outcomes.filter((outcome) => outcome !== 202);
  expect(outcomes.length).toBeGreaterThan(50);
  expect(failures).toEqual([]);
  console.info(`pm2 reload ceres-api under load: ${outcomes.length} enqueue requests, ${failures.length} failed`);
}, 180_000);
