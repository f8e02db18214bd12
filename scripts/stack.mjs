#!/usr/bin/env node
// `npm start` / `npm stop`: the whole stack on one machine under PM2.
//   start: creates .env with local secrets if absent (never overwrites it), starts a project-local
//          Redis and PostgreSQL under PM2 when REDIS_URL / DATABASE_URL are not set (data in var/),
//          builds what is not built, runs migrations, starts the three apps and prints the URLs.
//   stop:  deletes from PM2 every process start created. Data under var/ stays.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseEnv } from 'node:util';
import { localEncryptionKey, withEncryptionKey } from './lib/encryption-key.mjs';
import { findPostgresBinDir } from './lib/postgres-bin.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

const VAR = join(root, 'var');
const ENV_FILE = join(root, '.env');
/** Where start records the URLs of the local servers it started, for `npm run demo` and stop. */
const STACK_ENV_FILE = join(VAR, 'stack.env');
const APPS = ['ceres-api', 'ceres-worker', 'ceres-queues-ui'];
const LOCAL_SERVICES = ['ceres-redis', 'ceres-postgres'];
/** Ports of the project-local servers: off the defaults, so a system Redis/PostgreSQL can coexist. */
const LOCAL_REDIS_PORT = Number(process.env.LOCAL_REDIS_PORT) || 6390;
const LOCAL_POSTGRES_PORT = Number(process.env.LOCAL_POSTGRES_PORT) || 5440;

const pm2Bin = join(root, 'node_modules', '.bin', 'pm2');
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const command = process.argv[2];
if (command === 'start') await start();
else if (command === 'stop') stop();
else {
  console.error('usage: node scripts/stack.mjs start|stop');
  process.exit(2);
}

async function start() {
  if (!existsSync(pm2Bin)) fail('PM2 is not installed: run `npm install` first');
  mkdirSync(join(VAR, 'log'), { recursive: true });
  const created = ensureEnvFile();
  ensureEncryptionKey();
  const fileEnv = parseEnv(readFileSync(ENV_FILE, 'utf8'));
  // The shell's environment wins over .env, as with any twelve-factor app.
  const env = { ...fileEnv, ...definedOnly(process.env) };

  const local = {};
  if (!env.REDIS_URL || !env.DATABASE_URL) {
    run(process.execPath, ['scripts/ensure-system-deps.mjs', '--for', 'start']);
  }
  if (!env.REDIS_URL) local.REDIS_URL = await startLocalRedis();
  if (!env.DATABASE_URL) local.DATABASE_URL = await startLocalPostgres();
  writeFileSync(
    STACK_ENV_FILE,
    Object.entries(local)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(''),
  );
  Object.assign(env, local);

  buildIfNeeded();
  console.log('== migrations');
  run(process.execPath, ['packages/db/dist/cli.js', 'migrate'], { env: { ...process.env, ...env } });

  console.log('== starting the apps under PM2');
  run(pm2Bin, ['startOrRestart', 'ecosystem.config.js', '--update-env'], { env: { ...process.env, ...env } });

  const apiHost = env.API_HOST || '127.0.0.1';
  const apiPort = env.API_PORT || '3000';
  const uiHost = env.QUEUES_UI_HOST || '127.0.0.1';
  const uiPort = env.QUEUES_UI_PORT || '3050';
  await waitForHealth(`http://${apiHost}:${apiPort}/health`, 'ceres-api');
  await waitForHealth(`http://${uiHost}:${uiPort}/health`, 'ceres-queues-ui');

  console.log(`
Ceres jobs is running under PM2 (pm2 list, pm2 logs, npm stop).
  API          http://${apiHost}:${apiPort}          (Authorization: Bearer <a token from API_TOKENS>)
  API docs     http://${apiHost}:${apiPort}/docs
  Bull Board   http://${uiHost}:${uiPort}/ui      (user ${env.QUEUES_UI_USER || 'admin'}, password QUEUES_UI_PASS)
  Credentials  ${created ? 'generated just now into' : 'read from'} ${ENV_FILE}
  Redis        ${redact(env.REDIS_URL)}${local.REDIS_URL ? '  (project-local, data in var/redis)' : ''}
  PostgreSQL   ${redact(env.DATABASE_URL)}${local.DATABASE_URL ? '  (project-local, data in var/postgres)' : ''}
  Mail         ${env.SMTP_URL ? 'SMTP_URL' : 'no SMTP_URL: mails are written to var/outbox/'}
Try it: npm run demo`);
}

function stop() {
  if (!existsSync(pm2Bin)) return;
  for (const name of [...APPS, ...LOCAL_SERVICES]) {
    // Deleting a process PM2 does not know is not an error worth reporting.
    spawnSync(pm2Bin, ['delete', name], { stdio: 'ignore' });
  }
  console.log(`stopped ${[...APPS, ...LOCAL_SERVICES].join(', ')} (data under var/ is kept)`);
}

// Declarations, not consts: start() runs from the top of this module, before this line.
function secret() {
  return randomBytes(24).toString('base64url');
}

/**
 * Secrets added after a developer's .env was created: appended once when the file lacks them, so
 * an existing .env keeps working (nothing in it is changed).
 */
function laterSecrets() {
  return ['UNSUBSCRIBE_SECRET'];
}

/** Writes .env with fresh local secrets when there is none; returns whether it did. */
function ensureEnvFile() {
  if (existsSync(ENV_FILE)) {
    const current = readFileSync(ENV_FILE, 'utf8');
    const missing = laterSecrets().filter((name) => !new RegExp(`^\\s*${name}=\\S`, 'm').test(current));
    if (missing.length > 0) {
      appendFileSync(
        ENV_FILE,
        `${current.endsWith('\n') ? '' : '\n'}# Added by npm start on ${new Date().toISOString()}.\n${missing.map((name) => `${name}=${secret()}\n`).join('')}`,
      );
      console.log(`== added ${missing.join(', ')} to ${ENV_FILE}`);
    }
    return false;
  }
  const template = readFileSync(join(root, '.env.example'), 'utf8')
    .replace(/^API_TOKENS=.*$/m, `API_TOKENS=${secret()}`)
    .replace(/^QUEUES_UI_PASS=.*$/m, `QUEUES_UI_PASS=${secret()}`)
    .replace(/^JOBS_ENCRYPTION_KEYS=.*$/m, `JOBS_ENCRYPTION_KEYS=${localEncryptionKey()}`)
    .replace(/^UNSUBSCRIBE_SECRET=.*$/m, `UNSUBSCRIBE_SECRET=${secret()}`)
    // Local servers are started by npm start unless these point elsewhere.
    .replace(/^REDIS_URL=.*$/m, '# REDIS_URL=redis://127.0.0.1:6379/5')
    .replace(/^DATABASE_URL=.*$/m, '# DATABASE_URL=postgres://user:pass@127.0.0.1:5432/ceres');
  writeFileSync(ENV_FILE, `# Created by npm start on ${new Date().toISOString()} with local development secrets.\n${template}`);
  chmodSync(ENV_FILE, 0o600);
  return true;
}

/**
 * A .env from before JOBS_ENCRYPTION_KEYS (and no key in the shell): adds a local key to it, so the
 * API and the worker start. An existing value is never touched.
 */
function ensureEncryptionKey() {
  const updated = withEncryptionKey(readFileSync(ENV_FILE, 'utf8'));
  if (updated === undefined) return;
  writeFileSync(ENV_FILE, updated);
  console.log(`== generated a local JOBS_ENCRYPTION_KEYS into ${ENV_FILE}`);
}

async function startLocalRedis() {
  const dir = join(VAR, 'redis');
  mkdirSync(dir, { recursive: true });
  if (!pm2Knows('ceres-redis')) {
    run(pm2Bin, [
      'start',
      'redis-server',
      '--name',
      'ceres-redis',
      '--interpreter',
      'none',
      '--',
      '--port',
      String(LOCAL_REDIS_PORT),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--maxmemory-policy',
      'noeviction',
      '--save',
      '',
      '--logfile',
      '',
    ]);
  }
  await waitForPort(LOCAL_REDIS_PORT, 'ceres-redis');
  return `redis://127.0.0.1:${LOCAL_REDIS_PORT}/5`;
}

async function startLocalPostgres() {
  const bin = findPostgresBinDir();
  if (!bin) fail('PostgreSQL server binaries not found; install the postgresql package or set DATABASE_URL');
  const dir = join(VAR, 'postgres');
  if (!existsSync(join(dir, 'PG_VERSION'))) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const init = [join(bin, 'initdb'), '-D', dir, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync'];
    if (isRoot) {
      // PostgreSQL refuses to run as root: its data belongs to the postgres user.
      chownToPostgres(dir);
      run('runuser', ['-u', 'postgres', '--', ...init]);
    } else {
      run(init[0], init.slice(1));
    }
  }
  if (!pm2Knows('ceres-postgres')) {
    const args = ['start', join(bin, 'postgres'), '--name', 'ceres-postgres', '--interpreter', 'none', '--kill-timeout', '15000'];
    if (isRoot) args.push('--uid', 'postgres', '--gid', 'postgres');
    args.push('--', '-D', dir, '-p', String(LOCAL_POSTGRES_PORT), '-k', dir, '-c', 'listen_addresses=127.0.0.1');
    run(pm2Bin, args);
  }
  await waitForPort(LOCAL_POSTGRES_PORT, 'ceres-postgres');
  const admin = `postgres://postgres@127.0.0.1:${LOCAL_POSTGRES_PORT}/postgres`;
  await createDatabaseIfMissing(admin, 'ceres');
  return `postgres://postgres@127.0.0.1:${LOCAL_POSTGRES_PORT}/ceres`;
}

async function createDatabaseIfMissing(adminUrl, name) {
  const { default: pg } = await import('pg');
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: adminUrl });
    try {
      await client.connect();
      const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
      if (rowCount === 0) await client.query(`CREATE DATABASE ${name}`);
      return;
    } catch (error) {
      // The server accepts TCP a moment before it accepts logins.
      if (attempt > 50) throw error;
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await client.end().catch(() => {});
    }
  }
}

function chownToPostgres(dir) {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
  chownSync(dir, uid, gid);
}

/** Runs `npm run build` when a workspace has no build output or its sources are newer. */
function buildIfNeeded() {
  const outputs = {
    'packages/queues': 'dist/index.js',
    'packages/db': 'dist/cli.js',
    'apps/api': 'dist/main.js',
    'apps/worker': 'dist/main.js',
    'apps/queues-ui': 'dist/main.js',
  };
  const stale = Object.entries(outputs).filter(([workspace, output]) => {
    const built = join(workspace, output);
    return !existsSync(built) || newestMtime(join(workspace, 'src')) > statSync(built).mtimeMs;
  });
  if (stale.length === 0) return;
  console.log(`== build (${stale.map(([workspace]) => workspace).join(', ')} not built or out of date)`);
  run('npm', ['run', 'build']);
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, statSync(join(entry.parentPath ?? entry.path, entry.name)).mtimeMs);
  }
  return newest;
}

function pm2Knows(name) {
  return spawnSync(pm2Bin, ['describe', name], { stdio: 'ignore' }).status === 0;
}

async function waitForPort(port, name) {
  for (let i = 0; i < 150; i++) {
    const open = await new Promise((resolveOpen) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => (socket.destroy(), resolveOpen(true)));
      socket.once('error', () => resolveOpen(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  fail(`${name} did not open port ${port}; see: ${pm2Bin} logs ${name} --lines 50`);
}

async function waitForHealth(url, name) {
  for (let i = 0; i < 150; i++) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  fail(`${name} is not healthy at ${url}; see: npx pm2 logs ${name} --lines 50`);
}

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { stdio: 'inherit', ...options });
  if (result.status !== 0) fail(`${cmd} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
}

function definedOnly(env) {
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
}

function redact(url = '') {
  return url.replace(/\/\/([^@/]*)@/, (match, credentials) => (credentials.includes(':') ? '//***@' : match));
}

function fail(message) {
  console.error(`npm start: ${message}`);
  process.exit(1);
}
